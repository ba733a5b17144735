/* dep.c — libllmrtdep: a library a test plugin links against, built into a
 * directory that is on no search path, so that loading the plugin fails the
 * way a plugin with a missing dependency (libcudart, libmpi) does. */
int llmrt_test_dep(void);
int llmrt_test_dep(void) { return 42; }
