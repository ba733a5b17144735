/* test_nccl_create.c — what the nccl collective's create() checks before it
 * touches a GPU, so it runs everywhere: the [nccl] bootstrap value, the
 * job's backend (only cuda), and, where CUDA finds no device, the message
 * naming the cuda backend's device; probe() answers 0 with a reason there. */
#include <check.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include <llmrt/llmrt.h>

#include "host_stub.h"

static const llmrt_component *comp;
static const llmrt_collective_vtable *vt;

START_TEST(bad_bootstrap_method)
{
    void *ctx = NULL;
    llmrt_collective_init init = {.struct_size = sizeof init, .compute_backend = "cuda"};
    test_host_reset();
    test_host_set_param("bootstrap", "pigeon");
    ck_assert_int_eq(vt->create(test_host(), test_host_params(), &init, &ctx), LLMRT_ERR_INVALID);
    ck_assert_str_eq(test_host_error(), "nccl: [nccl] bootstrap = pigeon is not a method "
                                        "(accepted: auto, mpi, env, file)");
    test_host_reset();
}
END_TEST

START_TEST(only_the_cuda_backend)
{
    void *ctx = NULL;
    llmrt_collective_init init = {.struct_size = sizeof init, .compute_backend = "cpu",
                                  .host_addressable = 1};
    test_host_reset();
    ck_assert_int_eq(vt->create(test_host(), test_host_params(), &init, &ctx),
                     LLMRT_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(test_host_error(), "this job's backend is cpu (set [runtime] backend = "
                                            "cuda"), "%s", test_host_error());
    ck_assert_int_eq(vt->create(test_host(), test_host_params(), NULL, &ctx),
                     LLMRT_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(test_host_error(), "this job's backend is not named"), "%s",
                  test_host_error());
}
END_TEST

START_TEST(no_gpu)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) == cudaSuccess && n > 0) return; /* test_nccl's ground */
    ck_assert_int_eq(comp->probe(test_host()), 0);
    ck_assert_msg(strstr(test_host_error(), "nccl: no usable GPU here ("), "%s",
                  test_host_error());
    void *ctx = NULL;
    llmrt_collective_init init = {.struct_size = sizeof init, .compute_backend = "cuda",
                                  .timeout_s = 5};
    int rc = vt->create(test_host(), test_host_params(), &init, &ctx);
    ck_assert_msg(rc == LLMRT_ERR_DEVICE, "rc %d: %s", rc, test_host_error());
    ck_assert_msg(strstr(test_host_error(), "cudaGetDevice (the cuda backend's device)"), "%s",
                  test_host_error());
}
END_TEST

int main(void)
{
    char why[1024];
    const llmrt_plugin *p = test_load_plugin("llmrt-collective-nccl.so", why, sizeof why);
    if (!p) {
        fprintf(stderr, "test_nccl_create: %s\n", why);
        return 1;
    }
    comp = &p->components[0];
    vt = comp->vtable;
    Suite *s = suite_create("nccl_create");
    TCase *tc = tcase_create("create");
    tcase_add_test(tc, bad_bootstrap_method);
    tcase_add_test(tc, only_the_cuda_backend);
    tcase_add_test(tc, no_gpu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* CUDA does not survive fork */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
