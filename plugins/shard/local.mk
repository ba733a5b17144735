# strategy/shard: ddp, zero (stages 1-3) and fsdp (full, grad_op, hybrid).
plugin_LTLIBRARIES += plugins/shard/llmrt-strategy-shard.la
plugins_shard_llmrt_strategy_shard_la_SOURCES = plugins/shard/shard_plugin.c \
	plugins/shard/ddp.c plugins/shard/sharded.c plugins/shard/zero.c plugins/shard/fsdp.c \
	plugins/shard/plan_sim.c plugins/shard/shard.h
plugins_shard_llmrt_strategy_shard_la_CFLAGS = $(PLUGIN_CFLAGS)
plugins_shard_llmrt_strategy_shard_la_LDFLAGS = $(PLUGIN_LDFLAGS)
