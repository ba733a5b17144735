# strategy/shard: ddp (and, later, zero and fsdp).
plugin_LTLIBRARIES += plugins/shard/llmrt-strategy-shard.la
plugins_shard_llmrt_strategy_shard_la_SOURCES = plugins/shard/shard_plugin.c plugins/shard/ddp.c plugins/shard/shard.h
plugins_shard_llmrt_strategy_shard_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_shard_llmrt_strategy_shard_la_LDFLAGS = $(PLUGIN_LDFLAGS)
