# azure.identity alone (for Key Vault, say) is not storage code: nothing is reported
from azure.identity import DefaultAzureCredential

CREDENTIAL = DefaultAzureCredential()
