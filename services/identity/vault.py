"""Each user's temporary AWS credentials, kept until shortly before they expire and never shared.

Two layers: a bounded in-process map (a warm worker pays no decryption per turn) and the store's key-value
table, encrypted (Fernet with CREDENTIALS_KEY locally; a KMS data key per value when CREDENTIALS_KMS_KEY_ID
is set), so another worker process or a Lambda cold start does not need the user's sign-in again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

from services.errors import BackendError, aws_error_code, aws_http_status
from services.identity.exchange import Credentials

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 300  # credentials this close to expiry are exchanged again, never used
MEMORY_USERS = 1024
# How long a process trusts its in-memory copy before reading the store again: a sign-out in another worker
# (another Lambda container) deletes the stored credentials, and this bounds how long they stay usable here.
MEMORY_SECONDS = 60.0


class Cipher(Protocol):
    """Encrypts small values bound to a context (the user id): a value never decrypts for another user."""

    async def encrypt(self, data: bytes, context: str) -> dict[str, str]:
        """Return the encrypted value as JSON-ready strings."""

    async def decrypt(self, blob: dict[str, str], context: str) -> bytes:
        """Return the plaintext; raise ValueError when it cannot be decrypted for `context`."""


def _sealed(data: bytes, context: str) -> bytes:
    # Fernet has no associated data: the context travels inside the ciphertext and is checked on the way out.
    return json.dumps({"c": context, "d": base64.b64encode(data).decode()}).encode()


def _opened(plain: bytes, context: str) -> bytes:
    value = json.loads(plain)
    if value.get("c") != context:
        raise ValueError("credentials belong to another context")
    return base64.b64decode(value["d"])


class FernetCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) with the key from CREDENTIALS_KEY."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key)

    async def encrypt(self, data: bytes, context: str) -> dict[str, str]:
        """Return {"t": the Fernet token}."""
        return {"t": self._fernet.encrypt(_sealed(data, context)).decode()}

    async def decrypt(self, blob: dict[str, str], context: str) -> bytes:
        """Return the plaintext; ValueError when the token is bad, expired or for another context."""
        try:
            return _opened(self._fernet.decrypt(blob["t"].encode()), context)
        except (InvalidToken, KeyError) as error:
            raise ValueError("cannot decrypt") from error


KMS_DENIED = (
    "The gateway may not use the KMS key that protects users' credentials: ask your administrator to let the "
    "gateway's role use the key in CREDENTIALS_KMS_KEY_ID (kms:GenerateDataKey and kms:Decrypt, in the key policy "
    "or the role's policy; docs/qbusiness.md)."
)
KMS_UNUSABLE = (
    "The KMS key that protects users' credentials cannot be used (it does not exist in this region, is disabled "
    "or is pending deletion): ask your administrator to check the key in CREDENTIALS_KMS_KEY_ID."
)
KMS_UNREACHABLE = "AWS KMS, which protects your sign-in here, did not answer: please try again in a minute."
_KMS_DENIED = {"accessdeniedexception", "accessdenied"}
_KMS_UNUSABLE = {
    "notfoundexception", "disabledexception", "kmsinvalidstateexception", "keyunavailableexception",
    "invalidkeyusageexception", "invalidarnexception",
}  # fmt: skip


def kms_problem(error: Exception, key_id: str) -> BackendError:
    """Return the BackendError whose sentence tells the user what the administrator must do about a KMS error
    (never AWS's message); the key id goes to the log only."""
    code, status = aws_error_code(error), aws_http_status(error)
    if code in _KMS_DENIED or status == 403:
        sentence = KMS_DENIED
    elif code in _KMS_UNUSABLE:
        sentence = KMS_UNUSABLE
    else:
        sentence = KMS_UNREACHABLE
    log.warning("KMS refused the credentials key %s: %s", key_id, code or type(error).__name__)
    return BackendError(sentence, detail=f"kms {code or type(error).__name__}")


class KmsCipher:
    """Envelope encryption: a KMS data key per value (with the context as KMS encryption context), Fernet on it.

    KMS refusing the key (permissions, a disabled or missing key) or not answering raises BackendError with the
    administrator's fix; a value that does not decrypt for this user raises ValueError (a new exchange follows)."""

    def __init__(self, key_id: str, kms: Any = None) -> None:
        import boto3

        self.key_id = key_id
        self.kms = kms or boto3.client("kms")

    async def encrypt(self, data: bytes, context: str) -> dict[str, str]:
        """Return {"k": the encrypted data key, "t": the Fernet token made with it}."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            made = await asyncio.to_thread(
                self.kms.generate_data_key, KeyId=self.key_id, KeySpec="AES_256", EncryptionContext={"user": context}
            )
        except (ClientError, BotoCoreError) as error:
            raise kms_problem(error, self.key_id) from None
        token = Fernet(base64.urlsafe_b64encode(made["Plaintext"])).encrypt(_sealed(data, context))
        return {"k": base64.b64encode(made["CiphertextBlob"]).decode(), "t": token.decode()}

    async def decrypt(self, blob: dict[str, str], context: str) -> bytes:
        """Return the plaintext; ValueError when the value is not for this user or damaged, BackendError when
        KMS refuses the key or does not answer."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            key = await asyncio.to_thread(
                self.kms.decrypt, CiphertextBlob=base64.b64decode(blob["k"]), EncryptionContext={"user": context},
                KeyId=self.key_id,
            )  # fmt: skip
        except KeyError as error:
            raise ValueError("cannot decrypt") from error
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "")).lower()
            if code in ("invalidciphertextexception", "incorrectkeyexception"):  # another user's value, or damaged
                raise ValueError("cannot decrypt") from error
            raise kms_problem(error, self.key_id) from None
        except BotoCoreError as error:
            raise kms_problem(error, self.key_id) from None
        try:
            fernet = Fernet(base64.urlsafe_b64encode(key["Plaintext"]))
            return _opened(fernet.decrypt(blob["t"].encode()), context)
        except (InvalidToken, KeyError) as error:
            raise ValueError("cannot decrypt") from error


class CredentialVault:
    """Per-user credentials: `get` returns only credentials valid for more than REFRESH_MARGIN_SECONDS."""

    def __init__(self, store: Any, cipher: Cipher, *, prefix: str = "credentials|qbusiness|") -> None:
        self.store = store
        self.cipher = cipher
        self.prefix = prefix
        self._memory: OrderedDict[str, tuple[Credentials, float]] = OrderedDict()

    async def get(self, user_id: str) -> Credentials | None:
        """Return the user's cached credentials, or None when there are none fit to use."""
        remembered = self._memory.get(user_id)
        if remembered is not None:
            found, at = remembered
            if found.seconds_left() > REFRESH_MARGIN_SECONDS and time.monotonic() - at < MEMORY_SECONDS:
                self._memory.move_to_end(user_id)
                return found
        self._memory.pop(user_id, None)
        blob = await self.store.get_value(self.prefix + user_id)
        if not blob:
            return None
        try:
            found = Credentials.from_dict(json.loads(await self.cipher.decrypt(blob, user_id)))
        except (ValueError, KeyError):
            log.warning("stored credentials could not be decrypted (key changed?): a new exchange follows")
            await self.store.delete_value(self.prefix + user_id)
            return None
        if found.seconds_left() <= REFRESH_MARGIN_SECONDS:
            return None
        self._remember(user_id, found)
        return found

    async def put(self, user_id: str, credentials: Credentials) -> None:
        """Keep the user's credentials until REFRESH_MARGIN_SECONDS before they expire."""
        ttl = int(credentials.seconds_left() - REFRESH_MARGIN_SECONDS)
        if ttl <= 0:
            return
        self._remember(user_id, credentials)
        blob = await self.cipher.encrypt(json.dumps(credentials.as_dict()).encode(), user_id)
        await self.store.put_value(self.prefix + user_id, blob, ttl_seconds=ttl)

    async def forget(self, user_id: str) -> None:
        """Forget the user's credentials: here at once, in the store, and so in every other process within
        MEMORY_SECONDS (sign-out)."""
        self._memory.pop(user_id, None)
        await self.store.delete_value(self.prefix + user_id)

    def _remember(self, user_id: str, credentials: Credentials) -> None:
        self._memory[user_id] = (credentials, time.monotonic())
        self._memory.move_to_end(user_id)
        while len(self._memory) > MEMORY_USERS:
            self._memory.popitem(last=False)
