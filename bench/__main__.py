import asyncio

from bench import append_message

asyncio.run(append_message.main())
