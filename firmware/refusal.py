"""A request refused before it changed anything: the one exception every validation raises.

`code` is the link's error code (422 invalid value, 409 conflict, 503 not provisioned, ...);
`message` says what was wrong in words a technician (or the LCD) can show.
"""


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def need(cond, message, code=422):
    """Refuse unless `cond` holds."""
    if not cond:
        raise Refused(code, message)
