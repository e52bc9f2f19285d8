"""Local stand-in for AWS plus the event runner: what ``make run`` (``dealreg local``) and the tests use."""
