/* test_device_select.c — `[cuda] device` of the cuda backend, which gives
 * each rank of an nccl job its own GPU: auto takes the first of LOCAL_RANK,
 * OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID (else 0)
 * modulo the device count; an integer is an ordinal; anything else is an
 * error naming the key or the variable.
 *
 * Runs with or without a GPU: without one, create() must fail naming the
 * device it chose and where the number came from (no modulo: there is no
 * count); with GPUs, it must succeed on that device (cudaGetDevice). */
#include <check.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llmrt/llmrt.h>

#include "host_stub.h"

static const llmrt_compute_vtable *cvt;
static int n_devices; /* 0 where CUDA finds none */

static void clear_vars(void)
{
    unsetenv("LOCAL_RANK");
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("SLURM_LOCALID");
    unsetenv("MPI_LOCALRANKID");
    test_host_reset();
}

/* create() with the current variables picks `local` from `var`. */
static void expect_choice(long local, const char *var)
{
    void *ctx = NULL;
    int rc = cvt->create(test_host(), test_host_params(), &ctx);
    if (n_devices == 0) {
        char want[96];
        snprintf(want, sizeof want, "cuda: device %ld (%s) is not available (0 devices", local,
                 var);
        ck_assert_int_eq(rc, LLMRT_ERR_DEVICE);
        ck_assert_msg(strstr(test_host_error(), want), "want '%s' in: %s", want,
                      test_host_error());
        return;
    }
    ck_assert_msg(rc == 0, "create: %s", test_host_error());
    int dev = -1;
    ck_assert_int_eq(cudaGetDevice(&dev), cudaSuccess);
    ck_assert_int_eq(dev, (int)(local % n_devices));
    cvt->destroy(ctx);
}

START_TEST(auto_order)
{
    clear_vars();
    expect_choice(0, "auto: no local rank variable set");
    setenv("MPI_LOCALRANKID", "7", 1);
    expect_choice(7, "MPI_LOCALRANKID");
    setenv("SLURM_LOCALID", "5", 1);
    expect_choice(5, "SLURM_LOCALID");
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
    expect_choice(3, "OMPI_COMM_WORLD_LOCAL_RANK");
    setenv("LOCAL_RANK", "2", 1);
    expect_choice(2, "LOCAL_RANK");
    /* "auto" spelled out is the same. */
    test_host_set_param("device", "auto");
    expect_choice(2, "LOCAL_RANK");
    clear_vars();
}
END_TEST

START_TEST(explicit_ordinal)
{
    clear_vars();
    setenv("LOCAL_RANK", "1", 1); /* an explicit ordinal ignores it */
    test_host_set_param("device", "0");
    expect_choice(0, "[cuda] device");
    clear_vars();
}
END_TEST

START_TEST(bad_values)
{
    void *ctx = NULL;
    clear_vars();
    test_host_set_param("device", "gpu1");
    ck_assert_int_eq(cvt->create(test_host(), test_host_params(), &ctx), LLMRT_ERR_INVALID);
    ck_assert_msg(strstr(test_host_error(), "[cuda] device = gpu1 is neither auto nor a device "
                                            "ordinal"), "%s", test_host_error());
    test_host_set_param("device", "-1");
    ck_assert_int_eq(cvt->create(test_host(), test_host_params(), &ctx), LLMRT_ERR_INVALID);
    clear_vars();
    setenv("LOCAL_RANK", "one", 1);
    ck_assert_int_eq(cvt->create(test_host(), test_host_params(), &ctx), LLMRT_ERR_INVALID);
    ck_assert_msg(strstr(test_host_error(), "[cuda] device = auto: LOCAL_RANK=one is not a local "
                                            "rank"), "%s", test_host_error());
    clear_vars();
}
END_TEST

int main(void)
{
    char why[1024];
    const llmrt_plugin *pc = test_load_plugin("llmrt-compute-cuda.so", why, sizeof why);
    if (!pc) {
        fprintf(stderr, "test_device_select: %s\n", why);
        return 1;
    }
    cvt = pc->components[0].vtable;
    if (cudaGetDeviceCount(&n_devices) != cudaSuccess) n_devices = 0;
    Suite *s = suite_create("device_select");
    TCase *tc = tcase_create("cuda device");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, auto_order);
    tcase_add_test(tc, explicit_ordinal);
    tcase_add_test(tc, bad_values);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* CUDA does not survive fork */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
