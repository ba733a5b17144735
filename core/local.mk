# libllmrt: loader, registry, config, model, training loop, data, checkpoint,
# metrics. Plugins never link against it (they get the host API table).
lib_LTLIBRARIES += core/libllmrt.la
core_libllmrt_la_SOURCES = \
	core/error.c core/error.h \
	core/config.c core/config.h \
	core/host_api.c core/host_api.h \
	core/loader.c core/loader.h \
	core/registry.c core/registry.h \
	core/runtime.c core/runtime.h \
	core/coll_staging.c core/coll_staging.h \
	core/format_fp32.c core/format_fp32.h \
	core/rng.c core/rng.h \
	core/model_layout.c core/model_layout.h \
	core/layers.c core/layers.h \
	core/model_rt.c core/model_rt.h \
	core/model_check.c core/model_check.h \
	core/gpt.c core/gpt.h \
	core/bert.c core/bert.h \
	core/t5.c core/t5.h \
	core/mlm.c core/mlm.h \
	core/span.c core/span.h \
	core/model.c core/model.h \
	core/qat.c core/qat.h \
	core/lr_scale.c core/lr_scale.h \
	core/data.c core/data.h \
	core/tokenizer.c core/tokenizer.h \
	core/fileio.c core/fileio.h \
	core/safetensors.c core/safetensors.h \
	core/checkpoint.c core/checkpoint.h \
	core/ckpt_shards.c core/ckpt_shards.h \
	core/hf_config.c core/hf_config.h \
	core/plan.c core/plan.h \
	core/scaling_law.c core/scaling_law.h \
	core/scaling_fit.c core/scaling_fit.h \
	core/scaling_plan.c core/scaling_plan.h \
	core/scaling_table.c core/scaling_table.h \
	core/sweep.c core/sweep.h \
	core/precision.c core/precision.h \
	core/loss_scale.c core/loss_scale.h \
	core/metrics.c core/metrics.h \
	core/train.c core/train.h \
	core/generate.c core/generate.h
core_libllmrt_la_CPPFLAGS = $(AM_CPPFLAGS) -DLLMRT_PLUGINDIR='"$(plugindir)"'
core_libllmrt_la_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(JANSSON_CFLAGS) $(GSL_CFLAGS)
core_libllmrt_la_LIBADD = $(INIH_LIBS) $(JANSSON_LIBS) $(GSL_LIBS) -lm
core_libllmrt_la_LDFLAGS = -version-info 0:0:0 -no-undefined
