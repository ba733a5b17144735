/* nccl_bootstrap.c — rank 0's blob to every rank, over MPI, a TCP
 * rendezvous in torchrun's convention, or a shared file (nccl_bootstrap.h).
 *
 * Every wait is bounded by opts->timeout_s (the job's [runtime] timeout_s),
 * so a rank whose peers never come ends with a message instead of hanging. */
#define _GNU_SOURCE
#include "nccl_bootstrap.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llmrt/types.h>

#ifdef LLMRT_NCCL_WITH_MPI
#include <dlfcn.h>
#include <mpi.h>
#endif

#define HOST_MAX NCCL_BOOT_HOST_MAX
#define WIRE_MAGIC 0x4c4d4e42u /* "LMNB": the rendezvous protocol, version 1 */

/* --- small helpers ------------------------------------------------------- */

static int fail(char *err, size_t n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return code;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A deadline `timeout_s` from now; infinity when there is no limit. */
static double deadline_in(double timeout_s)
{
    return timeout_s > 0 ? now_s() + timeout_s : 1e300;
}

/* Milliseconds left until `deadline` for poll(), at least 0, at most `cap`. */
static int ms_left(double deadline, int cap)
{
    double left = (deadline - now_s()) * 1e3;
    if (left < 0) return 0;
    return left > cap ? cap : (int)left;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* An integer environment variable in [lo, hi]: 1 found, 0 unset, -1 bad. */
static int env_int(const char *name, long lo, long hi, int *out, char *err, size_t n)
{
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap: %s=%s is not an integer in [%ld, %ld]",
             name, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 1;
}

/* Rank and world size from the variables `rank_var` and `world_var`. */
static int rank_world(const char *rank_var, const char *world_var, int *rank, int *world,
                      char *err, size_t n)
{
    int r = env_int(world_var, 1, INT_MAX, world, err, n);
    if (r < 0) return LLMRT_ERR_INVALID;
    if (r == 0)
        return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap: %s is not set", world_var);
    r = env_int(rank_var, 0, INT_MAX, rank, err, n);
    if (r < 0) return LLMRT_ERR_INVALID;
    if (r == 0)
        return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap: %s is not set", rank_var);
    if (*rank >= *world)
        return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap: %s=%d is not below %s=%d",
                    rank_var, *rank, world_var, *world);
    return LLMRT_OK;
}

void nccl_boot_host_name(char out[HOST_MAX])
{
    const char *s = getenv("LLMRT_NCCL_HOSTNAME");
    if (s && *s) snprintf(out, HOST_MAX, "%s", s);
    else if (gethostname(out, HOST_MAX) != 0) snprintf(out, HOST_MAX, "unknown");
    out[HOST_MAX - 1] = '\0';
}

void nccl_boot_local_rank(const char *const *hosts, int world, int rank, int *local_rank,
                          int *local_size)
{
    int lr = 0, ls = 0;
    for (int r = 0; r < world; r++) {
        if (strcmp(hosts[r], hosts[rank]) != 0) continue;
        ls++;
        if (r < rank) lr++;
    }
    *local_rank = lr;
    *local_size = ls;
}

static int make_blob(const nccl_boot_opts *o, void *blob, size_t size, char *err, size_t n)
{
    return o->make_blob(o->make_arg, blob, size, err, n);
}

/* --- mpi ----------------------------------------------------------------- */

/* A launcher that starts MPI processes leaves one of these behind: Open MPI's
 * mpirun, PMIx (srun --mpi=pmix, prterun), PMI-1/2 (MPICH, srun --mpi=pmi2). */
static const char *mpi_launcher_var(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return vars[i];
    return NULL;
}

#ifdef LLMRT_NCCL_WITH_MPI
static int mpi_fail(char *err, size_t n, int e, const char *call)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(e, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", e);
    return fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (mpi): %s failed: %s", call, s);
}

/* The core opens plugins RTLD_LOCAL, which hides libmpi's symbols from the
 * components Open MPI dlopens itself; MPI_Init then fails. Make the libmpi
 * this file is linked against global (as plugins/mpi does). */
static void promote_libmpi(void)
{
    Dl_info info;
    if (dladdr((void *)(uintptr_t)&MPI_Init, &info) && info.dli_fname &&
        dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD))
        return;
    dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

/* Contexts that met through MPI and are not finished yet, and whether a
 * bootstrap of this process initialised MPI: MPI_Finalize is for the last
 * of them (MPI cannot be initialised twice). */
static int g_mpi_users, g_mpi_ours;

static int boot_mpi(const nccl_boot_opts *o, void *blob, size_t size, nccl_boot_info *info,
                    char *err, size_t n)
{
    int initialised = 0, finalized = 0, e;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalized);
    if (finalized)
        return fail(err, n, LLMRT_ERR_UNSUPPORTED, "nccl: bootstrap (mpi): MPI was already "
                    "finalized in this process; use [nccl] bootstrap = env or file");
    if (!initialised) {
        int provided = 0;
        promote_libmpi();
        if ((e = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided)))
            return mpi_fail(err, n, e, "MPI_Init_thread");
        info->mpi_initialised = g_mpi_ours = 1;
    }
    g_mpi_users++; /* finish() undoes it, whatever follows */
    info->mpi_user = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm local;
    if ((e = MPI_Comm_rank(MPI_COMM_WORLD, &info->rank)) ||
        (e = MPI_Comm_size(MPI_COMM_WORLD, &info->world)))
        return mpi_fail(err, n, e, "MPI_Comm_rank");
    if ((e = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, info->rank,
                                 MPI_INFO_NULL, &local)))
        return mpi_fail(err, n, e, "MPI_Comm_split_type");
    e = MPI_Comm_rank(local, &info->local_rank);
    if (!e) e = MPI_Comm_size(local, &info->local_size);
    MPI_Comm_free(&local);
    if (e) return mpi_fail(err, n, e, "MPI_Comm_rank (local)");
    /* Rank 0's status travels with the blob, so that a rank 0 that cannot
     * make one fails every rank with its reason instead of leaving them in
     * MPI_Bcast. */
    struct boot_msg {
        int32_t status;
        char msg[200];
        unsigned char blob[NCCL_BOOT_MAX_BLOB];
    } m;
    memset(&m, 0, sizeof m);
    if (info->rank == 0) m.status = make_blob(o, m.blob, size, m.msg, sizeof m.msg);
    if ((e = MPI_Bcast(&m, (int)(offsetof(struct boot_msg, blob) + size), MPI_BYTE, 0,
                       MPI_COMM_WORLD)))
        return mpi_fail(err, n, e, "MPI_Bcast");
    if (m.status)
        return info->rank == 0 ? fail(err, n, m.status, "%s", m.msg)
                               : fail(err, n, m.status, "nccl: bootstrap (mpi): rank 0 "
                                      "failed: %s", m.msg);
    memcpy(blob, m.blob, size);
    return LLMRT_OK;
}
#endif

void nccl_bootstrap_finish(const nccl_boot_info *info, int clean)
{
#ifdef LLMRT_NCCL_WITH_MPI
    int finalized = 0;
    if (!info || !info->mpi_user) return;
    MPI_Finalized(&finalized);
    if (--g_mpi_users == 0 && g_mpi_ours && clean && !finalized) MPI_Finalize();
#else
    (void)info;
    (void)clean;
#endif
}

void nccl_bootstrap_abort(const nccl_boot_info *info)
{
#ifdef LLMRT_NCCL_WITH_MPI
    int initialised = 0, finalized = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalized);
    if (info && info->method && !strcmp(info->method, "mpi") && initialised && !finalized)
        MPI_Abort(MPI_COMM_WORLD, 1);
#else
    (void)info;
#endif
}

/* --- TCP rendezvous (env) ------------------------------------------------ */

/* The wire: every rank sends rank 0 a hello; rank 0 answers each with a
 * reply, after every rank has said hello (or with an error at once). All
 * integers are big-endian uint32. */
typedef struct wire_hello {
    uint32_t magic, rank, world, host_len; /* then host_len bytes of host name */
} wire_hello;
typedef struct wire_reply {
    uint32_t magic, status, local_rank, local_size, len; /* then `len` bytes: blob or message */
} wire_reply;

static void put_u32s(unsigned char *p, const uint32_t *v, int count)
{
    for (int i = 0; i < count; i++) {
        p[4 * i] = (unsigned char)(v[i] >> 24);
        p[4 * i + 1] = (unsigned char)(v[i] >> 16);
        p[4 * i + 2] = (unsigned char)(v[i] >> 8);
        p[4 * i + 3] = (unsigned char)v[i];
    }
}

static void get_u32s(const unsigned char *p, uint32_t *v, int count)
{
    for (int i = 0; i < count; i++)
        v[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
}

/* Move exactly `len` bytes through `fd` before `deadline`: 0, or -1 with
 * errno (ETIMEDOUT past the deadline, EPIPE when the peer closed). */
static int io_full(int fd, void *buf, size_t len, double deadline, int writing)
{
    unsigned char *p = buf;
    while (len > 0) {
        struct pollfd pf = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
        int r = poll(&pf, 1, ms_left(deadline, 1000));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) {
            if (now_s() >= deadline) {
                errno = ETIMEDOUT;
                return -1;
            }
            continue;
        }
        ssize_t k = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k < 0) return -1;
        if (k == 0) {
            errno = EPIPE;
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static int send_reply(int fd, uint32_t status, int local_rank, int local_size, const void *data,
                      size_t len, double deadline)
{
    uint32_t v[5] = {WIRE_MAGIC, status, (uint32_t)local_rank, (uint32_t)local_size,
                     (uint32_t)len};
    unsigned char head[sizeof v];
    put_u32s(head, v, 5);
    if (io_full(fd, head, sizeof head, deadline, 1)) return -1;
    return len ? io_full(fd, (void *)(uintptr_t)data, len, deadline, 1) : 0;
}

/* The rendezvous address: MASTER_ADDR and MASTER_PORT. Under torchrun with
 * its static rendezvous (TORCHELASTIC_USE_AGENT_STORE=True) torchrun's own
 * agent already listens on MASTER_PORT, so the rendezvous takes the next
 * port. */
static int master_addr(char *host, size_t host_size, char *port, size_t port_size,
                       char *err, size_t n)
{
    const char *h = getenv("MASTER_ADDR"), *agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
    int p = 0, r;
    if (!h || !*h)
        return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (env): MASTER_ADDR is not set "
                    "(the host of rank 0, as torchrun sets it)");
    if ((r = env_int("MASTER_PORT", 1, 65535, &p, err, n)) < 0) return LLMRT_ERR_INVALID;
    if (r == 0)
        return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (env): MASTER_PORT is not set "
                    "(a free TCP port on MASTER_ADDR=%s, as torchrun sets it)", h);
    if (agent && !strcmp(agent, "True")) {
        if (p == 65535)
            return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (env): MASTER_PORT=65535 "
                        "leaves no port for the rendezvous beside torchrun's store");
        p++;
    }
    snprintf(host, host_size, "%s", h);
    snprintf(port, port_size, "%d", p);
    return LLMRT_OK;
}

/* A listening socket on the wildcard address of `family` at `port`; -1
 * with errno set on failure. */
static int listen_on(int family, const char *port)
{
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai = NULL;
    int e = getaddrinfo(NULL, port, &hints, &ai);
    if (e) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1,
        zero = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* An IPv6 socket that takes IPv4 peers too. */
        if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
            int saved = errno;
            close(fd);
            fd = -1;
            errno = saved;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* Rank 0: listen at the port on the wildcard address of the first family
 * of MASTER_ADDR's addresses this host can bind (IPv4 or IPv6). The
 * wildcard, because MASTER_ADDR names this host as the others reach it,
 * which need not be an address of a local interface (a name that resolves
 * to 127.0.1.1 here, NAT). */
static int tcp_listen(const char *host, const char *port, int *out, char *err, size_t n)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e)
        return fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): MASTER_ADDR=%s: %s", host,
                    gai_strerror(e));
    int fd = -1, last = EAFNOSUPPORT, tried_v4 = 0, tried_v6 = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        int *tried = a->ai_family == AF_INET ? &tried_v4 : a->ai_family == AF_INET6 ? &tried_v6
                                                                                    : NULL;
        if (!tried || *tried) continue;
        *tried = 1;
        if ((fd = listen_on(a->ai_family, port)) < 0) last = errno;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): rank 0 cannot listen on "
                    "port %s (MASTER_PORT): %s", port, strerror(last));
    *out = fd;
    return LLMRT_OK;
}

/* Other ranks: connect to MASTER_ADDR:port, retrying until the deadline
 * (rank 0 may start later). */
static int tcp_connect(const char *host, const char *port, double deadline, double timeout_s,
                       int *out, char *err, size_t n)
{
    char last[160] = "no attempt";
    long wait_ms = 50;
    for (;;) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int e = getaddrinfo(host, port, &hints, &ai);
        if (e) {
            snprintf(last, sizeof last, "%s", gai_strerror(e));
            /* A name that does not exist stays so: fail at once. */
            if (e == EAI_NONAME)
                return fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): MASTER_ADDR=%s: %s",
                            host, last);
        }
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) continue;
            if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                freeaddrinfo(ai);
                *out = fd;
                return LLMRT_OK;
            }
            snprintf(last, sizeof last, "%s", strerror(errno));
            close(fd);
        }
        if (ai) freeaddrinfo(ai);
        if (now_s() >= deadline)
            return fail(err, n, LLMRT_ERR_TIMEOUT, "nccl: bootstrap (env): nobody answered at "
                        "MASTER_ADDR=%s MASTER_PORT=%s within %g s (last: %s); is rank 0 "
                        "running?", host, port, timeout_s, last);
        sleep_ms(wait_ms < ms_left(deadline, 1000) ? wait_ms : ms_left(deadline, 1000));
        if (wait_ms < 1000) wait_ms *= 2;
    }
}

static int boot_env_root(const nccl_boot_opts *o, void *blob, size_t size, nccl_boot_info *info,
                         const char *host, const char *port, char *err, size_t n)
{
    int world = info->world, lfd = -1, rc;
    double deadline = deadline_in(o->timeout_s);
    if ((rc = tcp_listen(host, port, &lfd, err, n))) return rc;
    int *fds = malloc((size_t)world * sizeof *fds);
    char (*hosts)[HOST_MAX] = calloc((size_t)world, sizeof *hosts);
    const char **names = malloc((size_t)world * sizeof *names);
    if (!fds || !hosts || !names) {
        rc = fail(err, n, LLMRT_ERR_NOMEM, "nccl: bootstrap (env): out of memory for %d ranks",
                  world);
        goto out;
    }
    for (int r = 0; r < world; r++) fds[r] = -1, names[r] = hosts[r];
    nccl_boot_host_name(hosts[0]);
    int joined = 1;
    while (joined < world && !rc) {
        struct pollfd pf = {.fd = lfd, .events = POLLIN};
        int k = poll(&pf, 1, ms_left(deadline, 1000));
        if (k < 0 && errno != EINTR) {
            rc = fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): poll: %s",
                      strerror(errno));
            break;
        }
        if (k <= 0) {
            if (now_s() < deadline) continue;
            char missing[128] = "";
            size_t used = 0;
            for (int r = 1; r < world && used + 12 < sizeof missing; r++)
                if (fds[r] < 0)
                    used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%d",
                                             used ? ", " : "", r);
            rc = fail(err, n, LLMRT_ERR_TIMEOUT, "nccl: bootstrap (env): rank 0 waited %g s on "
                      "port %s (MASTER_PORT) for %d of %d ranks; missing: %s", o->timeout_s,
                      port, world - joined, world, missing);
            break;
        }
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        unsigned char head[sizeof(wire_hello)];
        uint32_t v[4];
        if (io_full(fd, head, sizeof head, deadline, 0)) {
            close(fd); /* not one of ours, or it went away: keep listening */
            continue;
        }
        get_u32s(head, v, 4);
        char why[160] = "";
        if (v[0] != WIRE_MAGIC) {
            close(fd); /* a stranger on the port */
            continue;
        }
        if (v[2] != (uint32_t)world)
            snprintf(why, sizeof why, "rank %u says WORLD_SIZE=%u, rank 0 has WORLD_SIZE=%d",
                     v[1], v[2], world);
        else if (v[1] == 0 || v[1] >= (uint32_t)world)
            snprintf(why, sizeof why, "a rank says RANK=%u (WORLD_SIZE=%d)", v[1], world);
        else if (fds[v[1]] >= 0)
            snprintf(why, sizeof why, "two processes say RANK=%u", v[1]);
        else if (v[3] == 0 || v[3] >= HOST_MAX)
            snprintf(why, sizeof why, "rank %u sent a host name of %u bytes", v[1], v[3]);
        if (!why[0] && io_full(fd, hosts[v[1]], v[3], deadline, 0)) {
            close(fd);
            continue;
        }
        if (why[0]) {
            rc = fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (env): %s", why);
            char msg[200];
            snprintf(msg, sizeof msg, "rank 0 refused it: %s", why);
            send_reply(fd, (uint32_t)rc, 0, 0, msg, strlen(msg), now_s() + 1.0);
            close(fd);
            break;
        }
        hosts[v[1]][v[3]] = '\0';
        fds[v[1]] = fd;
        joined++;
    }
    char made_err[200] = "";
    if (!rc && (rc = make_blob(o, blob, size, made_err, sizeof made_err)))
        fail(err, n, rc, "%s", made_err);
    for (int r = 1; r < world; r++) {
        if (fds[r] < 0) continue;
        int lr = 0, ls = 0;
        if (rc) {
            /* Every rank that came learns why the job cannot start. */
            char msg[300];
            /* Without this file's prefix: the peer adds its own. */
            const char *prefix = "nccl: bootstrap (env): ";
            snprintf(msg, sizeof msg, "rank 0 failed: %s",
                     strncmp(err, prefix, strlen(prefix)) ? err : err + strlen(prefix));
            send_reply(fds[r], (uint32_t)rc, 0, 0, msg, strlen(msg), now_s() + 1.0);
            continue;
        }
        nccl_boot_local_rank(names, world, r, &lr, &ls);
        if (send_reply(fds[r], 0, lr, ls, blob, size, deadline))
            rc = fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): sending rank %d its "
                      "reply: %s", r, strerror(errno));
    }
    if (!rc) nccl_boot_local_rank(names, world, 0, &info->local_rank, &info->local_size);
out:
    if (fds)
        for (int r = 0; r < world; r++)
            if (fds[r] >= 0) close(fds[r]);
    free(fds);
    free(hosts);
    free(names);
    close(lfd);
    return rc;
}

static int boot_env_peer(const nccl_boot_opts *o, void *blob, size_t size, nccl_boot_info *info,
                         const char *host, const char *port, char *err, size_t n)
{
    double deadline = deadline_in(o->timeout_s);
    int fd = -1, rc;
    if ((rc = tcp_connect(host, port, deadline, o->timeout_s, &fd, err, n))) return rc;
    char me[HOST_MAX];
    nccl_boot_host_name(me);
    uint32_t v[5] = {WIRE_MAGIC, (uint32_t)info->rank, (uint32_t)info->world,
                     (uint32_t)strlen(me)};
    unsigned char head[sizeof(wire_reply)];
    put_u32s(head, v, 4);
    if (io_full(fd, head, sizeof(wire_hello), deadline, 1) ||
        io_full(fd, me, strlen(me), deadline, 1)) {
        rc = fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): rank %d: sending to "
                  "MASTER_ADDR=%s MASTER_PORT=%s: %s", info->rank, host, port, strerror(errno));
        goto out;
    }
    if (io_full(fd, head, sizeof head, deadline, 0)) {
        rc = fail(err, n, errno == ETIMEDOUT ? LLMRT_ERR_TIMEOUT : LLMRT_ERR_COMM,
                  "nccl: bootstrap (env): rank %d: no reply from rank 0 at MASTER_ADDR=%s "
                  "MASTER_PORT=%s within %g s: %s", info->rank, host, port, o->timeout_s,
                  errno == ETIMEDOUT ? "the other ranks did not all join" : strerror(errno));
        goto out;
    }
    get_u32s(head, v, 5);
    if (v[0] != WIRE_MAGIC || v[4] > NCCL_BOOT_MAX_BLOB) {
        rc = fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): rank %d: MASTER_ADDR=%s "
                  "MASTER_PORT=%s is not an llmrt rendezvous", info->rank, host, port);
        goto out;
    }
    char body[NCCL_BOOT_MAX_BLOB + 1];
    if (io_full(fd, body, v[4], deadline, 0)) {
        rc = fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): rank %d: reading rank 0's "
                  "reply: %s", info->rank, strerror(errno));
        goto out;
    }
    if (v[1]) {
        body[v[4]] = '\0';
        rc = fail(err, n, (int)v[1], "nccl: bootstrap (env): rank %d: %s", info->rank, body);
        goto out;
    }
    if (v[4] != size) {
        rc = fail(err, n, LLMRT_ERR_COMM, "nccl: bootstrap (env): rank %d: rank 0 sent %u "
                  "bytes, expected %zu", info->rank, v[4], size);
        goto out;
    }
    memcpy(blob, body, size);
    info->local_rank = (int)v[2];
    info->local_size = (int)v[3];
out:
    close(fd);
    return rc;
}

static int boot_env(const nccl_boot_opts *o, void *blob, size_t size, nccl_boot_info *info,
                    char *err, size_t n)
{
    char host[HOST_MAX], port[8];
    int rc = rank_world("RANK", "WORLD_SIZE", &info->rank, &info->world, err, n);
    if (rc) return rc;
    if (info->world == 1) {
        info->local_rank = 0;
        info->local_size = 1;
        return make_blob(o, blob, size, err, n);
    }
    if ((rc = master_addr(host, sizeof host, port, sizeof port, err, n))) return rc;
    return info->rank == 0 ? boot_env_root(o, blob, size, info, host, port, err, n)
                           : boot_env_peer(o, blob, size, info, host, port, err, n);
}

/* --- shared file ---------------------------------------------------------- */

/* What ties the files to one job, so that a rank never takes a blob that an
 * earlier job left at the same path: Slurm's job and step ids where there
 * are, else nothing (docs/nccl.md: use a fresh path per job). */
static void job_tag(char *out, size_t size)
{
    const char *job = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
    snprintf(out, size, "%s.%s", job ? job : "", step ? step : "");
}

/* Write `len` bytes to `path` atomically: PATH.tmp.RANK, then rename(). */
static int write_atomic(const char *path, int rank, const void *data, size_t len, char *err,
                        size_t n)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, rank) >= sizeof tmp)
        return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (file): path too long: %s",
                    path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return fail(err, n, LLMRT_ERR_IO, "nccl: bootstrap (file): cannot write %s: %s", tmp,
                    strerror(errno));
    int bad = fwrite(data, 1, len, f) != len;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        int saved = errno;
        unlink(tmp);
        return fail(err, n, LLMRT_ERR_IO, "nccl: bootstrap (file): cannot write %s: %s", path,
                    strerror(saved));
    }
    return LLMRT_OK;
}

/* Poll for `path` holding `tag`, a newline and then `len` more bytes (copied
 * to `out`; len 0: the rest up to HOST_MAX - 1 bytes, NUL-terminated). */
static int read_tagged(const char *path, const char *tag, void *out, size_t len, double deadline,
                       const char *what, double timeout_s, char *err, size_t n)
{
    size_t tl = strlen(tag), want = len ? len : HOST_MAX - 1;
    char *buf = malloc(tl + 1 + want + 1);
    if (!buf) return fail(err, n, LLMRT_ERR_NOMEM, "nccl: bootstrap (file): out of memory");
    long wait_ms = 10;
    int rc = LLMRT_OK, seen = 0;
    for (;;) {
        FILE *f = fopen(path, "rb");
        if (f) {
            seen = 1;
            size_t got = fread(buf, 1, tl + 1 + want, f);
            fclose(f);
            int tag_ok = got > tl && !memcmp(buf, tag, tl) && buf[tl] == '\n';
            if (tag_ok && (len ? got == tl + 1 + len : got > tl + 1)) {
                if (len) memcpy(out, buf + tl + 1, len);
                else {
                    buf[got] = '\0';
                    snprintf(out, HOST_MAX, "%s", buf + tl + 1);
                }
                break;
            }
            /* Another job's file (tag), or one being replaced: wait. */
        }
        if (now_s() >= deadline) {
            rc = fail(err, n, LLMRT_ERR_TIMEOUT, "nccl: bootstrap (file): %s (%s) did not "
                      "appear within %g s%s", path, what, timeout_s,
                      seen ? " with this job's tag (SLURM_JOB_ID.SLURM_STEP_ID)" : "");
            break;
        }
        sleep_ms(wait_ms < ms_left(deadline, 1000) ? wait_ms : ms_left(deadline, 1000));
        if (wait_ms < 200) wait_ms *= 2;
    }
    free(buf);
    return rc;
}

static int boot_file(const nccl_boot_opts *o, const char *path, void *blob, size_t size,
                     nccl_boot_info *info, char *err, size_t n)
{
    int rc;
    if (getenv("SLURM_PROCID") || getenv("SLURM_NTASKS"))
        rc = rank_world("SLURM_PROCID", "SLURM_NTASKS", &info->rank, &info->world, err, n);
    else if (getenv("RANK") || getenv("WORLD_SIZE"))
        rc = rank_world("RANK", "WORLD_SIZE", &info->rank, &info->world, err, n);
    else
        rc = fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (file): neither SLURM_PROCID/"
                  "SLURM_NTASKS nor RANK/WORLD_SIZE is set, so rank and world size are unknown");
    if (rc) return rc;
    char tag[128], me[HOST_MAX], hpath[PATH_MAX];
    job_tag(tag, sizeof tag);
    nccl_boot_host_name(me);
    size_t tl = strlen(tag), ml = strlen(me);
    double deadline = deadline_in(o->timeout_s);
    char *rec = malloc(tl + 1 + (size > HOST_MAX ? size : HOST_MAX));
    char (*hosts)[HOST_MAX] = calloc((size_t)info->world, sizeof *hosts);
    const char **names = malloc((size_t)info->world * sizeof *names);
    if (!rec || !hosts || !names) {
        rc = fail(err, n, LLMRT_ERR_NOMEM, "nccl: bootstrap (file): out of memory for %d ranks",
                  info->world);
        goto out;
    }
    memcpy(rec, tag, tl);
    rec[tl] = '\n';
    /* This rank's host name, for the local ranks. */
    memcpy(rec + tl + 1, me, ml);
    if ((size_t)snprintf(hpath, sizeof hpath, "%s.host.%d", path, info->rank) >= sizeof hpath) {
        rc = fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap (file): path too long: %s", path);
        goto out;
    }
    if ((rc = write_atomic(hpath, info->rank, rec, tl + 1 + ml, err, n))) goto out;
    /* The blob: rank 0 writes it, the others wait for it. */
    if (info->rank == 0) {
        if ((rc = make_blob(o, blob, size, err, n))) goto out;
        memcpy(rec + tl + 1, blob, size);
        if ((rc = write_atomic(path, 0, rec, tl + 1 + size, err, n))) goto out;
    } else if ((rc = read_tagged(path, tag, blob, size, deadline, "rank 0's id", o->timeout_s,
                                 err, n))) {
        goto out;
    }
    for (int r = 0; r < info->world; r++) {
        names[r] = hosts[r];
        char what[48];
        snprintf(what, sizeof what, "the host name of rank %d", r);
        snprintf(hpath, sizeof hpath, "%s.host.%d", path, r);
        if ((rc = read_tagged(hpath, tag, hosts[r], 0, deadline, what, o->timeout_s, err, n)))
            goto out;
    }
    nccl_boot_local_rank(names, info->world, info->rank, &info->local_rank, &info->local_size);
out:
    free(rec);
    free(hosts);
    free(names);
    return rc;
}

/* --- choice of method ---------------------------------------------------- */

int nccl_bootstrap(const nccl_boot_opts *o, void *blob, size_t size, nccl_boot_info *info,
                   char *err, size_t n)
{
    memset(info, 0, sizeof *info);
    err[0] = '\0';
    if (size == 0 || size > NCCL_BOOT_MAX_BLOB)
        return fail(err, n, LLMRT_ERR_INTERNAL, "nccl: bootstrap: blob of %zu bytes (1..%d)",
                    size, NCCL_BOOT_MAX_BLOB);
    const char *method = o->method && *o->method ? o->method : "auto";
    const char *path = o->file && *o->file ? o->file : getenv("LLMRT_NCCL_BOOTSTRAP_FILE");
    if (path && !*path) path = NULL;
    int automatic = !strcmp(method, "auto");
    if (automatic) {
        if (mpi_launcher_var()) method = "mpi";
        else if (getenv("RANK") && getenv("WORLD_SIZE")) method = "env";
        else if (path) method = "file";
        else if (getenv("SLURM_NTASKS") && strcmp(getenv("SLURM_NTASKS"), "1") != 0)
            return fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap: Slurm started %s tasks "
                        "without MPI (PMI/PMIx) or torchrun's RANK/WORLD_SIZE; set [nccl] "
                        "bootstrap_file (or LLMRT_NCCL_BOOTSTRAP_FILE) to a path on a "
                        "filesystem every node shares", getenv("SLURM_NTASKS"));
        else method = "single";
    }
    int rc;
    if (!strcmp(method, "mpi")) {
#ifdef LLMRT_NCCL_WITH_MPI
        rc = boot_mpi(o, blob, size, info, err, n);
#else
        rc = fail(err, n, LLMRT_ERR_UNSUPPORTED, "nccl: bootstrap: %s says MPI started this "
                  "process, but this nccl plugin was built without MPI; use [nccl] bootstrap = "
                  "env or file", automatic ? mpi_launcher_var() : "[nccl] bootstrap = mpi");
#endif
        info->method = "mpi";
    } else if (!strcmp(method, "env")) {
        rc = boot_env(o, blob, size, info, err, n);
        info->method = "env";
    } else if (!strcmp(method, "file")) {
        rc = path ? boot_file(o, path, blob, size, info, err, n)
                  : fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap = file needs [nccl] "
                         "bootstrap_file (or LLMRT_NCCL_BOOTSTRAP_FILE)");
        info->method = "file";
    } else if (!strcmp(method, "single")) {
        info->world = info->local_size = 1;
        rc = make_blob(o, blob, size, err, n);
        info->method = "single";
    } else {
        rc = fail(err, n, LLMRT_ERR_INVALID, "nccl: bootstrap = %s is not a method (accepted: "
                  "auto, mpi, env, file, single)", method);
    }
    return rc;
}
