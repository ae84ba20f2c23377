"""`make bench`: every benchmark, each printing its table with ratios from the same run."""

import asyncio

from bench import (
    append_message,
    bulkheads,
    embedding_throughput,
    events,
    load,
    memory_recall,
    rag_search,
    remote_calls,
    retrieval_quality,
    sagas,
    telemetry_overhead,
    tools_sandbox,
)

asyncio.run(append_message.main())
asyncio.run(retrieval_quality.main())
asyncio.run(embedding_throughput.main())
asyncio.run(rag_search.main())
asyncio.run(tools_sandbox.main())
asyncio.run(memory_recall.main())
asyncio.run(sagas.main())
asyncio.run(events.main())
asyncio.run(remote_calls.main())
asyncio.run(telemetry_overhead.main())
asyncio.run(bulkheads.main())
asyncio.run(load.main())
