from __future__ import annotations

from diskferry.errors import DiskFailed, redact


def test_sas_tokens_are_redacted() -> None:
    msg = "copy of https://h:1/a/b.vhd?sv=1&sig=abc%2Bdef&se=x failed; sig=zzz"
    out = redact(msg)
    assert "abc" not in out and "zzz" not in out
    assert "https://h:1/a/b.vhd?<redacted>" in out


def test_errors_carry_code_and_redacted_message() -> None:
    err = DiskFailed("CannotVerifyCopySource", "source https://x/y?sig=SECRET is gone")
    assert err.code == "CannotVerifyCopySource"
    assert "SECRET" not in str(err) and "SECRET" not in err.message


def test_errors_survive_celery_serialization() -> None:
    # Celery stores a task's exception as (type, args) and rebuilds it as cls(*args)
    from diskferry.errors import JobFileError, RetryLater

    for err in (DiskFailed("Code", "text"), RetryLater("Busy", "later", 3.0), JobFileError("targets[0]", "bad")):
        again = type(err)(*err.args)
        assert str(again) == str(err)
        assert again.code == err.code
