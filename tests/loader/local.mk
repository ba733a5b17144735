# tests/loader: the plugin loader and registry, `llmrt plugins`, and the SDK
# example built out of tree from a staged install.
#
# Every case of test_loader gets its own directory of plugins under
# tests/loader/cases/<case>/ (libtool puts the .so in .libs/), so that one
# case's files never take part in another's lookup. The plugins are built
# from two parameterised sources (tests/loader/plugins/fake_*.c); each macro
# breaks one rule of the ABI.

LOADER_COMPUTE = tests/loader/plugins/fake_compute.c
LOADER_FORMAT = tests/loader/plugins/fake_format.c
LOADER_LDFLAGS = -module -avoid-version -shared -no-undefined -rpath /nowhere

check_LTLIBRARIES += tests/loader/cases/good/llmrt-compute-good.la
tests_loader_cases_good_llmrt_compute_good_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_good_llmrt_compute_good_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=good
tests_loader_cases_good_llmrt_compute_good_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_good_llmrt_compute_good_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/nodesc/llmrt-compute-nodesc.la
tests_loader_cases_nodesc_llmrt_compute_nodesc_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_nodesc_llmrt_compute_nodesc_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=nodesc -DFAKE_NO_DESCRIPTOR
tests_loader_cases_nodesc_llmrt_compute_nodesc_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_nodesc_llmrt_compute_nodesc_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/abi/llmrt-compute-abi.la
tests_loader_cases_abi_llmrt_compute_abi_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_abi_llmrt_compute_abi_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=abi -DFAKE_ABI_MAJOR=2 -DFAKE_ABI_MINOR=3
tests_loader_cases_abi_llmrt_compute_abi_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_abi_llmrt_compute_abi_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/abisym/llmrt-compute-abisym.la
tests_loader_cases_abisym_llmrt_compute_abisym_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_abisym_llmrt_compute_abisym_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=abisym -DFAKE_SYMBOL=llmrt_plugin_v2
tests_loader_cases_abisym_llmrt_compute_abisym_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_abisym_llmrt_compute_abisym_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/shortdesc/llmrt-compute-shortdesc.la
tests_loader_cases_shortdesc_llmrt_compute_shortdesc_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_shortdesc_llmrt_compute_shortdesc_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=shortdesc -DFAKE_DESC_SIZE=24
tests_loader_cases_shortdesc_llmrt_compute_shortdesc_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_shortdesc_llmrt_compute_shortdesc_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/shortvt/llmrt-compute-shortvt.la
tests_loader_cases_shortvt_llmrt_compute_shortvt_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_shortvt_llmrt_compute_shortvt_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=shortvt -DFAKE_VT_SIZE_TO=gemm
tests_loader_cases_shortvt_llmrt_compute_shortvt_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_shortvt_llmrt_compute_shortvt_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/nullmember/llmrt-compute-nullmember.la
tests_loader_cases_nullmember_llmrt_compute_nullmember_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_nullmember_llmrt_compute_nullmember_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=nullmember -DFAKE_OMIT_ADAMW
tests_loader_cases_nullmember_llmrt_compute_nullmember_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_nullmember_llmrt_compute_nullmember_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/probe0/llmrt-compute-probe0.la
tests_loader_cases_probe0_llmrt_compute_probe0_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_probe0_llmrt_compute_probe0_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=probe0 -DFAKE_PROBE_ZERO
tests_loader_cases_probe0_llmrt_compute_probe0_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_probe0_llmrt_compute_probe0_la_LDFLAGS = $(LOADER_LDFLAGS)

# A missing dependency: libllmrtdep.so stays in cases/deplib/.libs, which is
# on neither the plugin's run path nor LD_LIBRARY_PATH. The plugin names it
# to the linker directly (-Wl,FILE) rather than as a libtool library, so
# that libtool does not add that directory to the plugin's RUNPATH; the
# linker records only its soname, as for a system library (--no-as-needed:
# the flag comes before the objects that use it).
check_LTLIBRARIES += tests/loader/cases/deplib/libllmrtdep.la
tests_loader_cases_deplib_libllmrtdep_la_SOURCES = tests/loader/plugins/dep.c
tests_loader_cases_deplib_libllmrtdep_la_LDFLAGS = -avoid-version -no-undefined -rpath /nowhere
check_LTLIBRARIES += tests/loader/cases/needsdep/llmrt-compute-needsdep.la
tests_loader_cases_needsdep_llmrt_compute_needsdep_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_needsdep_llmrt_compute_needsdep_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=needsdep -DFAKE_USE_DEP
tests_loader_cases_needsdep_llmrt_compute_needsdep_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_needsdep_llmrt_compute_needsdep_la_LDFLAGS = $(LOADER_LDFLAGS) \
	-Wl,--push-state,--no-as-needed,$(builddir)/tests/loader/cases/deplib/.libs/libllmrtdep.so,--pop-state
EXTRA_tests_loader_cases_needsdep_llmrt_compute_needsdep_la_DEPENDENCIES = tests/loader/cases/deplib/libllmrtdep.la

check_LTLIBRARIES += tests/loader/cases/mismatch/llmrt-compute-mismatch.la
tests_loader_cases_mismatch_llmrt_compute_mismatch_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_mismatch_llmrt_compute_mismatch_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=other
tests_loader_cases_mismatch_llmrt_compute_mismatch_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_mismatch_llmrt_compute_mismatch_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/badmagic/llmrt-compute-badmagic.la
tests_loader_cases_badmagic_llmrt_compute_badmagic_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_badmagic_llmrt_compute_badmagic_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=badmagic -DFAKE_MAGIC=0x12345678u
tests_loader_cases_badmagic_llmrt_compute_badmagic_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_badmagic_llmrt_compute_badmagic_la_LDFLAGS = $(LOADER_LDFLAGS)

# A compute descriptor in a file named as a format.
check_LTLIBRARIES += tests/loader/cases/kindmix/llmrt-format-kindmix.la
tests_loader_cases_kindmix_llmrt_format_kindmix_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_kindmix_llmrt_format_kindmix_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=kindmix
tests_loader_cases_kindmix_llmrt_format_kindmix_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_kindmix_llmrt_format_kindmix_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/compkind/llmrt-compute-compkind.la
tests_loader_cases_compkind_llmrt_compute_compkind_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_compkind_llmrt_compute_compkind_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=compkind -DFAKE_COMPONENT_KIND=LLMRT_KIND_STRATEGY
tests_loader_cases_compkind_llmrt_compute_compkind_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_compkind_llmrt_compute_compkind_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/nullname/llmrt-compute-nullname.la
tests_loader_cases_nullname_llmrt_compute_nullname_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_nullname_llmrt_compute_nullname_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=nullname -DFAKE_NULL_NAME
tests_loader_cases_nullname_llmrt_compute_nullname_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_nullname_llmrt_compute_nullname_la_LDFLAGS = $(LOADER_LDFLAGS)

check_LTLIBRARIES += tests/loader/cases/nullvt/llmrt-compute-nullvt.la
tests_loader_cases_nullvt_llmrt_compute_nullvt_la_SOURCES = $(LOADER_COMPUTE)
tests_loader_cases_nullvt_llmrt_compute_nullvt_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=nullvt -DFAKE_NULL_VTABLE
tests_loader_cases_nullvt_llmrt_compute_nullvt_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_nullvt_llmrt_compute_nullvt_la_LDFLAGS = $(LOADER_LDFLAGS)

# Two files of one directory providing format "twin".
check_LTLIBRARIES += tests/loader/cases/dup/llmrt-format-dupa.la tests/loader/cases/dup/llmrt-format-dupb.la
tests_loader_cases_dup_llmrt_format_dupa_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_dup_llmrt_format_dupa_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=dupa -DFAKE_COMP1=twin
tests_loader_cases_dup_llmrt_format_dupa_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_dup_llmrt_format_dupa_la_LDFLAGS = $(LOADER_LDFLAGS)
tests_loader_cases_dup_llmrt_format_dupb_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_dup_llmrt_format_dupb_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=dupb -DFAKE_COMP1=twin
tests_loader_cases_dup_llmrt_format_dupb_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_dup_llmrt_format_dupb_la_LDFLAGS = $(LOADER_LDFLAGS)

# One plugin listing "twin" twice.
check_LTLIBRARIES += tests/loader/cases/dupself/llmrt-format-twin.la
tests_loader_cases_dupself_llmrt_format_twin_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_dupself_llmrt_format_twin_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=twin -DFAKE_COMP1=twin -DFAKE_COMP2=twin
tests_loader_cases_dupself_llmrt_format_twin_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_dupself_llmrt_format_twin_la_LDFLAGS = $(LOADER_LDFLAGS)

# The same plugin in two directories (versions 1 and 2): shadowing.
check_LTLIBRARIES += tests/loader/cases/shadow1/llmrt-format-shadow.la tests/loader/cases/shadow2/llmrt-format-shadow.la
tests_loader_cases_shadow1_llmrt_format_shadow_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_shadow1_llmrt_format_shadow_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=shadow -DFAKE_COMP1=shadow -DFAKE_VERSION=1
tests_loader_cases_shadow1_llmrt_format_shadow_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_shadow1_llmrt_format_shadow_la_LDFLAGS = $(LOADER_LDFLAGS)
tests_loader_cases_shadow2_llmrt_format_shadow_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_shadow2_llmrt_format_shadow_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=shadow -DFAKE_COMP1=shadow -DFAKE_VERSION=2
tests_loader_cases_shadow2_llmrt_format_shadow_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_shadow2_llmrt_format_shadow_la_LDFLAGS = $(LOADER_LDFLAGS)

# One file providing two formats, found by scanning (as quant provides bf16).
check_LTLIBRARIES += tests/loader/cases/multi/llmrt-format-multi.la
tests_loader_cases_multi_llmrt_format_multi_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_multi_llmrt_format_multi_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=multi -DFAKE_COMP1=alpha -DFAKE_COMP2=beta
tests_loader_cases_multi_llmrt_format_multi_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_multi_llmrt_format_multi_la_LDFLAGS = $(LOADER_LDFLAGS)

# A good plugin that must not be found through the current directory.
check_LTLIBRARIES += tests/loader/cases/cwd/llmrt-format-cwd.la
tests_loader_cases_cwd_llmrt_format_cwd_la_SOURCES = $(LOADER_FORMAT)
tests_loader_cases_cwd_llmrt_format_cwd_la_CPPFLAGS = $(AM_CPPFLAGS) -DFAKE_NAME=cwd -DFAKE_COMP1=cwd
tests_loader_cases_cwd_llmrt_format_cwd_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_cases_cwd_llmrt_format_cwd_la_LDFLAGS = $(LOADER_LDFLAGS)

# The SDK example, built unchanged in the tree (its bits are tested by
# test_e5m2 even where test_sdk_install.sh skips).
check_LTLIBRARIES += tests/loader/e5m2/llmrt-format-e5m2.la
tests_loader_e5m2_llmrt_format_e5m2_la_SOURCES = tests/loader/plugins/e5m2_intree.c
tests_loader_e5m2_llmrt_format_e5m2_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/sdk/examples/format-e5m2
tests_loader_e5m2_llmrt_format_e5m2_la_CFLAGS = $(PLUGIN_CFLAGS)
tests_loader_e5m2_llmrt_format_e5m2_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere

check_PROGRAMS += tests/loader/test_loader tests/loader/test_e5m2
tests_loader_test_loader_SOURCES = tests/loader/test_loader.c
tests_loader_test_loader_CFLAGS = $(TEST_CFLAGS)
tests_loader_test_loader_LDADD = $(TEST_LIBS)
tests_loader_test_e5m2_SOURCES = tests/loader/test_e5m2.c
tests_loader_test_e5m2_CFLAGS = $(TEST_CFLAGS)
tests_loader_test_e5m2_LDADD = $(TEST_LIBS)

TESTS += tests/loader/test_loader tests/loader/test_e5m2 \
	tests/loader/test_plugins_cmd.sh tests/loader/test_sdk_install.sh
EXTRA_DIST += tests/loader/test_plugins_cmd.sh tests/loader/test_sdk_install.sh
