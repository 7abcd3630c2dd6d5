"""Per-user AWS identity for backends that answer with the user's own permissions (Amazon Q Business).

`exchange.py` turns the user's Microsoft Entra ID token into short-lived AWS credentials (IAM Identity Center
CreateTokenWithIAM, then STS AssumeRole with the identity context); `vault.py` keeps them per user, encrypted.
"""

from services.identity.exchange import Credentials, IdcExchange, IdentityConfig
from services.identity.vault import CredentialVault, FernetCipher, KmsCipher

__all__ = ["CredentialVault", "Credentials", "FernetCipher", "IdcExchange", "IdentityConfig", "KmsCipher"]
