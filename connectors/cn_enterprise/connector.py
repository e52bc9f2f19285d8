"""Chinese enterprise-information connectors: a shared base and one small class per provider.

Providers answer HTTP 200 with their own result code in the body, so the base reads that envelope in
``fetch`` (the body code is the provider's protocol, the HTTP status is still classified only by
``connectors.http``): a "no result" code yields nothing, like a registry's 404; any other non-success code
is a ``PermanentError`` (bad key, unpaid quota, bad parameter: retrying will not help).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from connectors.base import ConfigT, Fetched, FetchRequest, HttpUrl, Parsed, RegistryConnector
from connectors.cn_enterprise.mapping import FieldMap, to_company
from connectors.company_records import dig, json_body, text
from connectors.errors import PermanentError, RecordRejectedError, loc_type_errors


class CnEnterpriseConnector(RegistryConnector[ConfigT]):
    """Base of the Chinese providers: envelope handling plus the shared mapping.

    A provider declares ``name``, ``config_model``, ``lookup_path``/``search_path``, ``fields`` and, if it
    needs them, ``request_headers``/``lookup_url`` for authentication.
    """

    fields: ClassVar[FieldMap]

    def _envelope(self, doc: Any) -> str | None:
        return text(dig(doc, self.fields.envelope_status))

    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        """Like the registry base, plus the provider's body code: see the module docstring."""
        for raw in super().fetch(request):
            try:
                doc = json_body(raw)
            except RecordRejectedError:
                yield raw  # parse reports it as a rejection; the caller decides what a bad body means
                continue
            code = self._envelope(doc)
            if code in self.fields.not_found_codes:
                return
            if code not in self.fields.ok_codes:
                raise PermanentError(f"{self.name}: provider answered code {code!r}", reason="provider_status")
            yield raw

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        """One ``Company`` for a look-up, one per entry (in the provider's order) for a search."""
        try:
            doc = json_body(raw)
        except RecordRejectedError as exc:
            yield exc
            return
        code = self._envelope(doc)
        if code in self.fields.not_found_codes:
            return
        if code not in self.fields.ok_codes:
            yield RecordRejectedError(errors=[{"loc": self.fields.envelope_status, "type": "provider_status"}])
            return
        results = dig(doc, self.fields.results)
        if isinstance(results, list):
            for index, entry in enumerate(results):
                yield self._company(entry, f"{self.fields.results}.{index}")
            return
        if self.fields.found_flag and str(dig(doc, self.fields.found_flag)) == "0":
            return
        record = dig(doc, self.fields.record)
        if not isinstance(record, Mapping):
            yield RecordRejectedError(errors=[{"loc": self.fields.record, "type": "missing"}])
            return
        yield self._company(record, self.fields.record)

    def _company(self, entry: Any, loc: str) -> Parsed:
        if not isinstance(entry, Mapping):
            return RecordRejectedError(errors=[{"loc": loc, "type": "model_type"}])
        try:
            return to_company(entry, self.fields, self.name)
        except ValidationError as exc:
            return RecordRejectedError(errors=[{"loc": f"{loc}.{e['loc']}", "type": e["type"]}
                                               for e in loc_type_errors(exc)])


# -- 企查查 (Qichacha / QCC open platform) ------------------------------------------------------------


class QccConfig(BaseModel):
    """企查查 open platform: base URL, the application key and its secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl = "https://api.qichacha.com/"
    app_key: SecretStr
    secret_key: SecretStr


QCC_FIELDS = FieldMap(
    # Field names from the published docs: 企业信息核验 (ApiCode 2001, EnterpriseInfo/Verify) and
    # 企业高级搜索 (ApiCode 886, FuzzySearch/GetList), https://openapi.qcc.com/dataApi/2001 and /886.
    envelope_status="Status",
    ok_codes=frozenset({"200"}),
    # "201" is QCC's documented "查询无结果" (request status codes page); look-ups also carry
    # Result.VerifyResult = 0 when the company does not exist.
    not_found_codes=frozenset({"201"}),
    record="Result.Data",
    results="Result",
    found_flag="Result.VerifyResult",
    source_id=("KeyNo",),
    name=("Name",),
    uscc=("CreditCode",),
    legal_representative=("OperName",),
    status=("Status",),
    registered_capital=("RegistCapi",),
    industry=("Industry.SubIndustry", "Industry.Industry", "QccIndustry.BName"),
    address=("Address",),
    established_on=("StartDate",),
)


class QccConnector(CnEnterpriseConnector[QccConfig]):
    """企查查: look-up by USCC or exact name (EnterpriseInfo/Verify), ranked name search (FuzzySearch/GetList).

    Authentication per the QCC docs: ``key`` in the query, and headers ``Timespan`` (Unix seconds) and
    ``Token`` = upper-case MD5 of key + Timespan + SecretKey.
    """

    name: ClassVar[str] = "qcc"
    config_model: ClassVar[type[BaseModel]] = QccConfig
    example_config: ClassVar[dict[str, Any]] = {
        "base_url": "https://api.qichacha.com/",
        "app_key": "example-app-key",
        "secret_key": "example-secret",
    }
    example_request: ClassVar[FetchRequest] = FetchRequest(identifier="91440300708461136T")
    fixtures: ClassVar[tuple[str, ...]] = ("verify_found.json", "fuzzy_search.json", "verify_revoked.json")
    schemes: ClassVar[tuple[str, ...]] = ("uscc",)
    countries: ClassVar[tuple[str, ...]] = ("CN",)
    lookup_path: ClassVar[str] = "EnterpriseInfo/Verify?searchKey={identifier}"
    search_path: ClassVar[str | None] = "FuzzySearch/GetList?searchKey={name}&pageSize=10"
    fields: ClassVar[FieldMap] = QCC_FIELDS

    def lookup_url(self, request: FetchRequest) -> str:
        """The base URL plus ``key`` (the shared client redacts queries from its error messages)."""
        return super().lookup_url(request) + "&key=" + quote(self.config.app_key.get_secret_value(), safe="")

    def request_headers(self) -> dict[str, str]:
        """``Timespan`` and ``Token`` as the QCC docs define them."""
        timespan = str(int(time.time()))
        key = self.config.app_key.get_secret_value()
        # MD5 is the provider's request-signing scheme, not our choice of hash.
        token = hashlib.md5((key + timespan + self.config.secret_key.get_secret_value()).encode()).hexdigest()  # noqa: S324
        return {"Token": token.upper(), "Timespan": timespan}
