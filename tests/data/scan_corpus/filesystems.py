import asyncio

import fsspec
import gcsfs  # expect: import gcsfs
from adlfs import AzureBlobFileSystem  # expect: import adlfs.AzureBlobFileSystem
from aiobotocore.session import get_session  # expect: import aiobotocore.session.get_session
from ocifs import OCIFileSystem as OFS  # expect: import ocifs.OCIFileSystem
from s3fs import S3FileSystem  # expect: import s3fs.S3FileSystem

s3 = S3FileSystem(anon=False)  # expect: s3fs.S3FileSystem
gfs = gcsfs.GCSFileSystem(project="p")  # expect: gcsfs.GCSFileSystem
afs = AzureBlobFileSystem(account_name="a")  # expect: adlfs.AzureBlobFileSystem
ofs = OFS(config="~/.oci/config")  # expect: ocifs.OCIFileSystem
direct = fsspec.filesystem("s3", anon=True)  # expect: fsspec.filesystem
local = fsspec.filesystem("file")  # fine: not a cloud filesystem
mem = fsspec.filesystem("memory")


async def fetch() -> bytes:
    session = get_session()  # expect: aiobotocore.session.get_session
    async with session.create_client("s3") as client:  # expect: aiobotocore.session.get_session().create_client
        response = await client.get_object(Bucket="b", Key="k")  # expect: aiobotocore.session.get_session().create_client().get_object
        return await response["Body"].read()  # expect: aiobotocore.session.get_session().create_client().get_object()[].read


asyncio.run(fetch())
