/* test_nccl_bootstrap.c — plugins/nccl/nccl_bootstrap.c without NCCL or a GPU.
 *
 * Three processes (fork) meet over TCP on 127.0.0.1 (and ::1 where the host
 * has IPv6) at a free port, and over a file in a temporary directory, with
 * Slurm's and torchrun's variables; every rank must return rank 0's blob,
 * its rank, the world size and its local rank among ranks whose host name
 * (LLMRT_NCCL_HOSTNAME) is the same. Error cases: missing variables, nobody
 * listening (a timeout within the deadline), a port already taken, bad and
 * mismatched world sizes, a rank 0 that cannot make the blob, a stale file
 * of another job, a file that never appears.
 *
 * With argument --mpi the program is one rank of `mpirun -np N` instead
 * (tests/nccl/test_nccl_bootstrap_mpi.sh): the mpi method, checked with
 * MPI's own allgather. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <llmrt/types.h>

#include "nccl_bootstrap.h"

#ifdef LLMRT_NCCL_WITH_MPI
#include <mpi.h>
#endif

#define BLOB 128
#define MAX_RANKS 4

typedef struct result {
    int rc, rank, world, local_rank, local_size;
    double seconds;
    char method[8];
    unsigned char blob[BLOB];
    char err[512];
} result;

/* Rank 0's blob: bytes that differ between runs (pid and clock). */
static int make_test_blob(void *arg, void *blob, size_t size, char *err, size_t n)
{
    (void)arg, (void)err, (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long x = (unsigned long)getpid() * 2654435761u ^ (unsigned long)ts.tv_nsec;
    for (size_t i = 0; i < size; i++) {
        x = x * 6364136223846793005ul + 1442695040888963407ul;
        ((unsigned char *)blob)[i] = (unsigned char)(x >> 56);
    }
    return 0;
}

static int failing_blob(void *arg, void *blob, size_t size, char *err, size_t n)
{
    (void)arg, (void)blob, (void)size;
    snprintf(err, n, "test: rank 0 cannot make the id");
    return LLMRT_ERR_DEVICE;
}

/* Every variable a launcher might have left in the environment of `make
 * check`, so that the children see only what each test sets. */
static void clean_env(void)
{
    static const char *const vars[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                       "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
                                       "SLURM_PROCID", "SLURM_NTASKS", "SLURM_JOB_ID",
                                       "SLURM_STEP_ID", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                       "PMI_SIZE", "LLMRT_NCCL_BOOTSTRAP_FILE",
                                       "LLMRT_NCCL_HOSTNAME", NULL};
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
}

static void set_int(const char *name, int v)
{
    char s[32];
    snprintf(s, sizeof s, "%d", v);
    setenv(name, s, 1);
}

/* A TCP port nobody listens on right now (the kernel's choice). */
static int free_port(int family)
{
    int fd = socket(family, SOCK_STREAM, 0), port = -1;
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        port = family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                 : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    close(fd);
    return port;
}

/* How one child sets its environment before it bootstraps. */
typedef void (*env_fn)(int rank, void *arg);

typedef struct job {
    int ranks;
    env_fn env;
    void *env_arg;
    nccl_boot_opts opts;
    double start_delay_rank0; /* rank 0 starts late (the others retry) */
} job;

/* Run `j->ranks` children, each bootstrapping once; their results in `out`. */
static void run_job(const job *j, result *out)
{
    int fds[MAX_RANKS][2];
    pid_t pids[MAX_RANKS];
    for (int r = 0; r < j->ranks; r++) {
        ck_assert_int_eq(pipe(fds[r]), 0);
        pids[r] = fork();
        ck_assert_int_ge(pids[r], 0);
        if (pids[r] == 0) {
            close(fds[r][0]);
            clean_env();
            j->env(r, j->env_arg);
            if (r == 0 && j->start_delay_rank0 > 0) usleep((useconds_t)(j->start_delay_rank0 * 1e6));
            result res;
            memset(&res, 0, sizeof res);
            nccl_boot_info info;
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            res.rc = nccl_bootstrap(&j->opts, res.blob, BLOB, &info, res.err, sizeof res.err);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            res.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
            res.rank = info.rank;
            res.world = info.world;
            res.local_rank = info.local_rank;
            res.local_size = info.local_size;
            snprintf(res.method, sizeof res.method, "%s", info.method ? info.method : "");
            ssize_t w = write(fds[r][1], &res, sizeof res);
            _exit(w == (ssize_t)sizeof res ? 0 : 3);
        }
        close(fds[r][1]);
    }
    for (int r = 0; r < j->ranks; r++) {
        memset(&out[r], 0, sizeof out[r]);
        ssize_t got = read(fds[r][0], &out[r], sizeof out[r]);
        close(fds[r][0]);
        int status = 0;
        waitpid(pids[r], &status, 0);
        ck_assert_msg(got == (ssize_t)sizeof out[r], "rank %d: no result (exit status %d)", r,
                      status);
    }
}

/* Every rank succeeded with rank 0's blob, its own rank and the expected
 * local ranks. */
static void check_ok(const result *res, int ranks, const int *local_rank,
                     const int *local_size, const char *method)
{
    for (int r = 0; r < ranks; r++) {
        ck_assert_msg(res[r].rc == 0, "rank %d failed (%d): %s", r, res[r].rc, res[r].err);
        ck_assert_int_eq(res[r].rank, r);
        ck_assert_int_eq(res[r].world, ranks);
        ck_assert_msg(res[r].local_rank == local_rank[r] && res[r].local_size == local_size[r],
                      "rank %d: local %d of %d, expected %d of %d", r, res[r].local_rank,
                      res[r].local_size, local_rank[r], local_size[r]);
        ck_assert_str_eq(res[r].method, method);
        ck_assert_msg(!memcmp(res[r].blob, res[0].blob, BLOB), "rank %d got another blob", r);
    }
    static const unsigned char zero[BLOB];
    ck_assert_msg(memcmp(res[0].blob, zero, BLOB) != 0, "the blob is all zero");
}

/* --- TCP (torchrun's variables) ------------------------------------------ */

typedef struct tcp_env {
    const char *addr;
    int port;
    int world[MAX_RANKS];      /* WORLD_SIZE each rank sets */
    const char *hosts[MAX_RANKS];
    int no_port;               /* leave MASTER_PORT unset */
} tcp_env;

static void set_tcp_env(int rank, void *arg)
{
    tcp_env *e = arg;
    set_int("RANK", rank);
    set_int("WORLD_SIZE", e->world[rank]);
    setenv("MASTER_ADDR", e->addr, 1);
    if (!e->no_port) set_int("MASTER_PORT", e->port);
    if (e->hosts[rank]) setenv("LLMRT_NCCL_HOSTNAME", e->hosts[rank], 1);
}

static void tcp_three(const char *addr, int family)
{
    int port = free_port(family);
    ck_assert_int_gt(port, 0);
    tcp_env e = {.addr = addr, .port = port, .world = {3, 3, 3}, .hosts = {"a", "b", "a"}};
    job j = {.ranks = 3, .env = set_tcp_env, .env_arg = &e,
             .opts = {.timeout_s = 20, .make_blob = make_test_blob},
             .start_delay_rank0 = 0.3};
    result res[3];
    run_job(&j, res);
    int lr[] = {0, 0, 1}, ls[] = {2, 1, 2};
    check_ok(res, 3, lr, ls, "env");
}

START_TEST(tcp_ipv4)
{
    tcp_three("127.0.0.1", AF_INET);
}
END_TEST

START_TEST(tcp_ipv6)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int usable = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    if (!usable) {
        fprintf(stderr, "tcp_ipv6: no IPv6 loopback here; not run\n");
        return;
    }
    tcp_three("::1", AF_INET6);
}
END_TEST

START_TEST(tcp_same_host)
{
    int port = free_port(AF_INET);
    tcp_env e = {.addr = "localhost", .port = port, .world = {3, 3, 3}};
    job j = {.ranks = 3, .env = set_tcp_env, .env_arg = &e,
             .opts = {.method = "env", .timeout_s = 20, .make_blob = make_test_blob}};
    result res[3];
    run_job(&j, res);
    int lr[] = {0, 1, 2}, ls[] = {3, 3, 3};
    check_ok(res, 3, lr, ls, "env");
}
END_TEST

START_TEST(tcp_missing_port)
{
    tcp_env e = {.addr = "127.0.0.1", .world = {2, 2}, .no_port = 1};
    job j = {.ranks = 2, .env = set_tcp_env, .env_arg = &e,
             .opts = {.timeout_s = 5, .make_blob = make_test_blob}};
    result res[2];
    run_job(&j, res);
    for (int r = 0; r < 2; r++) {
        ck_assert_int_eq(res[r].rc, LLMRT_ERR_INVALID);
        ck_assert_msg(strstr(res[r].err, "MASTER_PORT is not set"), "rank %d: %s", r, res[r].err);
    }
}
END_TEST

START_TEST(tcp_nobody_listening)
{
    /* Rank 1 alone: nobody listens at the port, so it retries until its
     * deadline and then says where it looked. */
    int port = free_port(AF_INET);
    tcp_env e = {.addr = "127.0.0.1", .port = port, .world = {2, 2}};
    clean_env();
    set_tcp_env(1, &e);
    char err[512];
    unsigned char blob[BLOB];
    nccl_boot_info info;
    nccl_boot_opts o = {.timeout_s = 1.5, .make_blob = make_test_blob};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    clean_env();
    ck_assert_int_eq(rc, LLMRT_ERR_TIMEOUT);
    char want[64];
    snprintf(want, sizeof want, "MASTER_PORT=%d within 1.5 s", port);
    ck_assert_msg(strstr(err, "nobody answered") && strstr(err, want), "%s", err);
    ck_assert_msg(s >= 1.4 && s < 4.0, "gave up after %.2f s (deadline 1.5 s)", s);
}
END_TEST

START_TEST(tcp_port_taken)
{
    /* Someone else listens on MASTER_PORT: rank 0 says so at once. */
    int blocker = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(blocker, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(blocker, 1), 0);
    ck_assert_int_eq(getsockname(blocker, (struct sockaddr *)&a, &len), 0);
    tcp_env e = {.addr = "127.0.0.1", .port = ntohs(a.sin_port), .world = {2, 2}};
    clean_env();
    set_tcp_env(0, &e);
    char err[512], want[96];
    unsigned char blob[BLOB];
    nccl_boot_info info;
    nccl_boot_opts o = {.timeout_s = 5, .make_blob = make_test_blob};
    int rc = nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err);
    clean_env();
    close(blocker);
    ck_assert_int_eq(rc, LLMRT_ERR_COMM);
    snprintf(want, sizeof want, "rank 0 cannot listen on port %d (MASTER_PORT): ", e.port);
    ck_assert_msg(strstr(err, want), "%s", err);
}
END_TEST

START_TEST(tcp_rank0_alone)
{
    /* Rank 0 of 3 with only rank 1 arriving: rank 0 names the missing rank,
     * rank 1 times out waiting for the reply. */
    int port = free_port(AF_INET);
    tcp_env e = {.addr = "127.0.0.1", .port = port, .world = {3, 3}};
    job j = {.ranks = 2, .env = set_tcp_env, .env_arg = &e,
             .opts = {.timeout_s = 1.5, .make_blob = make_test_blob}};
    result res[2];
    run_job(&j, res);
    ck_assert_int_eq(res[0].rc, LLMRT_ERR_TIMEOUT);
    ck_assert_msg(strstr(res[0].err, "for 1 of 3 ranks; missing: 2"), "%s", res[0].err);
    /* Rank 1 either gives up first or hears rank 0's reason. */
    ck_assert_int_eq(res[1].rc, LLMRT_ERR_TIMEOUT);
    ck_assert_msg(strstr(res[1].err, "no reply from rank 0") ||
                      strstr(res[1].err, "rank 1: rank 0 failed: rank 0 waited 1.5 s"),
                  "%s", res[1].err);
    ck_assert_msg(res[0].seconds < 4.0 && res[1].seconds < 4.0, "%.2f s, %.2f s",
                  res[0].seconds, res[1].seconds);
}
END_TEST

START_TEST(tcp_world_mismatch)
{
    int port = free_port(AF_INET);
    tcp_env e = {.addr = "127.0.0.1", .port = port, .world = {2, 3}};
    job j = {.ranks = 2, .env = set_tcp_env, .env_arg = &e,
             .opts = {.timeout_s = 10, .make_blob = make_test_blob}};
    result res[2];
    run_job(&j, res);
    ck_assert_int_eq(res[0].rc, LLMRT_ERR_INVALID);
    ck_assert_str_eq(res[0].err, "nccl: bootstrap (env): rank 1 says WORLD_SIZE=3, rank 0 has "
                                 "WORLD_SIZE=2");
    ck_assert_int_eq(res[1].rc, LLMRT_ERR_INVALID);
    ck_assert_str_eq(res[1].err, "nccl: bootstrap (env): rank 1: rank 0 refused it: rank 1 says "
                                 "WORLD_SIZE=3, rank 0 has WORLD_SIZE=2");
    for (int r = 0; r < 2; r++)
        ck_assert_msg(res[r].seconds < 8.0, "rank %d took %.2f s", r, res[r].seconds);
}
END_TEST

START_TEST(tcp_rank0_fails)
{
    /* Rank 0 cannot make the id: every rank learns why. */
    int port = free_port(AF_INET);
    tcp_env e = {.addr = "127.0.0.1", .port = port, .world = {2, 2}};
    job j = {.ranks = 2, .env = set_tcp_env, .env_arg = &e,
             .opts = {.timeout_s = 10, .make_blob = failing_blob}};
    result res[2];
    run_job(&j, res);
    ck_assert_int_eq(res[0].rc, LLMRT_ERR_DEVICE);
    ck_assert_int_eq(res[1].rc, LLMRT_ERR_DEVICE);
    ck_assert_str_eq(res[1].err, "nccl: bootstrap (env): rank 1: rank 0 failed: test: rank 0 "
                                 "cannot make the id");
}
END_TEST

START_TEST(bad_world_sizes)
{
    static const struct {
        const char *rank, *world, *want;
    } cases[] = {
        {"0", "0", "WORLD_SIZE=0 is not an integer in [1, "},
        {"3", "2", "RANK=3 is not below WORLD_SIZE=2"},
        {"0", "two", "WORLD_SIZE=two is not an integer"},
        {"-1", "2", "RANK=-1 is not an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clean_env();
        setenv("RANK", cases[i].rank, 1);
        setenv("WORLD_SIZE", cases[i].world, 1);
        setenv("MASTER_ADDR", "127.0.0.1", 1);
        setenv("MASTER_PORT", "1", 1);
        char err[512];
        unsigned char blob[BLOB];
        nccl_boot_info info;
        nccl_boot_opts o = {.timeout_s = 1, .make_blob = make_test_blob};
        int rc = nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err);
        ck_assert_int_eq(rc, LLMRT_ERR_INVALID);
        ck_assert_msg(strstr(err, cases[i].want), "RANK=%s WORLD_SIZE=%s: %s", cases[i].rank,
                      cases[i].world, err);
    }
    clean_env();
}
END_TEST

START_TEST(method_errors)
{
    char err[512];
    unsigned char blob[BLOB];
    nccl_boot_info info;
    nccl_boot_opts o = {.method = "file", .timeout_s = 1, .make_blob = make_test_blob};
    clean_env();
    ck_assert_int_eq(nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err), LLMRT_ERR_INVALID);
    ck_assert_msg(strstr(err, "needs [nccl] bootstrap_file"), "%s", err);
    o.method = "carrier-pigeon";
    ck_assert_int_eq(nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err), LLMRT_ERR_INVALID);
    ck_assert_msg(strstr(err, "carrier-pigeon is not a method (accepted: auto, mpi, env, file"),
                  "%s", err);
    /* Slurm's tasks with nothing to meet through. */
    o.method = "auto";
    setenv("SLURM_NTASKS", "4", 1);
    setenv("SLURM_PROCID", "1", 1);
    ck_assert_int_eq(nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err), LLMRT_ERR_INVALID);
    ck_assert_msg(strstr(err, "Slurm started 4 tasks") && strstr(err, "bootstrap_file"), "%s",
                  err);
    /* Nothing set: one rank. */
    clean_env();
    ck_assert_int_eq(nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err), 0);
    ck_assert_str_eq(info.method, "single");
    ck_assert(info.rank == 0 && info.world == 1 && info.local_rank == 0 && info.local_size == 1);
}
END_TEST

/* --- shared file --------------------------------------------------------- */

typedef struct file_env {
    int slurm; /* Slurm's variables instead of torchrun's */
    const char *hosts[MAX_RANKS];
    const char *path_env; /* LLMRT_NCCL_BOOTSTRAP_FILE */
} file_env;

static void set_file_env(int rank, void *arg)
{
    file_env *e = arg;
    set_int(e->slurm ? "SLURM_PROCID" : "RANK", rank);
    set_int(e->slurm ? "SLURM_NTASKS" : "WORLD_SIZE", 3);
    if (e->slurm) {
        setenv("SLURM_JOB_ID", "4242", 1);
        setenv("SLURM_STEP_ID", "0", 1);
    }
    if (e->hosts[rank]) setenv("LLMRT_NCCL_HOSTNAME", e->hosts[rank], 1);
    if (e->path_env) setenv("LLMRT_NCCL_BOOTSTRAP_FILE", e->path_env, 1);
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/llmrt-boot-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(file_torchrun_vars)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/nccl-id", tmpdir);
    file_env e = {.hosts = {"n1", "n2", "n2"}};
    job j = {.ranks = 3, .env = set_file_env, .env_arg = &e,
             .opts = {.method = "file", .file = path, .timeout_s = 20,
                      .make_blob = make_test_blob},
             .start_delay_rank0 = 0.3};
    result res[3];
    run_job(&j, res);
    int lr[] = {0, 0, 1}, ls[] = {1, 2, 2};
    check_ok(res, 3, lr, ls, "file");
    remove_tmpdir();
}
END_TEST

START_TEST(file_slurm_stale)
{
    /* A file another job (another SLURM_JOB_ID) left at the path is not
     * taken: the ranks wait for this job's rank 0, found through
     * LLMRT_NCCL_BOOTSTRAP_FILE and bootstrap = auto. */
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/nccl-id", tmpdir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "17.0\n%0128d", 0); /* job 17's tag and blob */
    ck_assert_int_eq(fclose(f), 0);
    file_env e = {.slurm = 1, .path_env = path};
    job j = {.ranks = 3, .env = set_file_env, .env_arg = &e,
             .opts = {.timeout_s = 20, .make_blob = make_test_blob},
             .start_delay_rank0 = 0.5};
    result res[3];
    run_job(&j, res);
    int lr[] = {0, 1, 2}, ls[] = {3, 3, 3};
    check_ok(res, 3, lr, ls, "file");
    ck_assert_msg(res[0].blob[0] != '0' || res[0].blob[1] != '0', "the stale blob was taken");
    remove_tmpdir();
}
END_TEST

START_TEST(file_timeout)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof path, "%s/never", tmpdir);
    file_env e = {0};
    clean_env();
    set_file_env(2, &e);
    char err[512];
    unsigned char blob[BLOB];
    nccl_boot_info info;
    nccl_boot_opts o = {.method = "file", .file = path, .timeout_s = 1,
                        .make_blob = make_test_blob};
    int rc = nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err);
    clean_env();
    ck_assert_int_eq(rc, LLMRT_ERR_TIMEOUT);
    ck_assert_msg(strstr(err, path) && strstr(err, "rank 0's id") && strstr(err, "within 1 s"),
                  "%s", err);
    remove_tmpdir();
}
END_TEST

START_TEST(local_ranks)
{
    const char *hosts[] = {"x", "y", "x", "z", "y", "x"};
    int want_lr[] = {0, 0, 1, 0, 1, 2}, want_ls[] = {3, 2, 3, 1, 2, 3};
    for (int r = 0; r < 6; r++) {
        int lr = -1, ls = -1;
        nccl_boot_local_rank(hosts, 6, r, &lr, &ls);
        ck_assert_int_eq(lr, want_lr[r]);
        ck_assert_int_eq(ls, want_ls[r]);
    }
}
END_TEST

/* --- under mpirun ---------------------------------------------------------- */

static int run_mpi(void)
{
#ifdef LLMRT_NCCL_WITH_MPI
    char err[512];
    unsigned char blob[BLOB];
    nccl_boot_info info;
    nccl_boot_opts o = {.timeout_s = 60, .make_blob = make_test_blob};
    int rc = nccl_bootstrap(&o, blob, BLOB, &info, err, sizeof err);
    if (rc) {
        fprintf(stderr, "FAIL: bootstrap: %s\n", err);
        return 1;
    }
    /* MPI stays initialised (the bootstrap initialised it): check the
     * bootstrap's answers against MPI's own. */
    int rank, size, bad = 0, all_bad = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    unsigned char *all = malloc((size_t)size * BLOB);
    MPI_Allgather(blob, BLOB, MPI_BYTE, all, BLOB, MPI_BYTE, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++) bad |= memcmp(all + (size_t)r * BLOB, all, BLOB) != 0;
    free(all);
    if (bad) fprintf(stderr, "FAIL: rank %d: the ranks got different blobs\n", rank);
    if (info.rank != rank || info.world != size || strcmp(info.method, "mpi") ||
        !info.mpi_initialised) {
        fprintf(stderr, "FAIL: rank %d: bootstrap says rank %d of %d by %s (initialised %d)\n",
                rank, info.rank, info.world, info.method, info.mpi_initialised);
        bad = 1;
    }
    /* Every rank of an mpirun on one host is local. */
    if (info.local_rank != rank || info.local_size != size) {
        fprintf(stderr, "FAIL: rank %d: local rank %d of %d\n", rank, info.local_rank,
                info.local_size);
        bad = 1;
    }
    /* A second context (MPI already up) keeps MPI open past the first's
     * finish; the last finish ends it, since a bootstrap initialised it. */
    nccl_boot_info second;
    unsigned char blob2[BLOB];
    rc = nccl_bootstrap(&o, blob2, BLOB, &second, err, sizeof err);
    if (rc || second.mpi_initialised || second.rank != rank) {
        fprintf(stderr, "FAIL: rank %d: second bootstrap: rc %d (%s), initialised %d\n", rank,
                rc, err, second.mpi_initialised);
        bad = 1;
    }
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    nccl_bootstrap_finish(&info, 1);
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (finalized) {
        fprintf(stderr, "FAIL: rank %d: MPI finalized with a context still open\n", rank);
        return 1;
    }
    nccl_bootstrap_finish(&second, 1);
    MPI_Finalized(&finalized);
    if (!finalized) {
        fprintf(stderr, "FAIL: rank %d: MPI not finalized after the last context\n", rank);
        return 1;
    }
    if (rank == 0 && !all_bad) printf("mpi bootstrap: %d ranks agree on the blob\n", size);
    return all_bad ? 1 : 0;
#else
    fprintf(stderr, "SKIP: built without MPI\n");
    return 77;
#endif
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--mpi")) return run_mpi();
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("nccl_bootstrap");
    TCase *tc = tcase_create("bootstrap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, local_ranks);
    tcase_add_test(tc, tcp_ipv4);
    tcase_add_test(tc, tcp_ipv6);
    tcase_add_test(tc, tcp_same_host);
    tcase_add_test(tc, tcp_missing_port);
    tcase_add_test(tc, tcp_nobody_listening);
    tcase_add_test(tc, tcp_port_taken);
    tcase_add_test(tc, tcp_rank0_alone);
    tcase_add_test(tc, tcp_world_mismatch);
    tcase_add_test(tc, tcp_rank0_fails);
    tcase_add_test(tc, bad_world_sizes);
    tcase_add_test(tc, method_errors);
    tcase_add_test(tc, file_torchrun_vars);
    tcase_add_test(tc, file_slurm_stale);
    tcase_add_test(tc, file_timeout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
