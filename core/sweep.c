/* sweep.c — the IsoFLOP grid of training runs (see sweep.h). */
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "gpt.h"
#include "scaling_table.h"
#include "train.h"

#define MAX_GRID 64

typedef struct sweep_config {
    const char *out, *table;
    double budgets[MAX_GRID];
    size_t n_budgets;
    int layers[MAX_GRID], dims[MAX_GRID];
    size_t n_shapes;
    long head_dim, min_steps, max_steps;
    long batch, accum, warmup;
    llmrt_model_config base;
} sweep_config;

static int parse_budgets(const char *text, sweep_config *s)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    int rc = LLMRT_OK;
    for (char *tok = strtok_r(copy, ", ", &save); tok && !rc; tok = strtok_r(NULL, ", ", &save)) {
        char *end;
        double v = strtod(tok, &end);
        if (*end || !isfinite(v) || v <= 0 || s->n_budgets == MAX_GRID)
            rc = llmrt_error(LLMRT_ERR_INVALID, "[sweep] budgets: '%s': expected up to %d "
                             "positive FLOP counts separated by commas (1e12, 3e12)", tok,
                             MAX_GRID);
        else s->budgets[s->n_budgets++] = v;
    }
    free(copy);
    if (!rc && !s->n_budgets)
        rc = llmrt_error(LLMRT_ERR_INVALID, "[sweep] budgets is empty: give FLOP counts "
                         "separated by commas (1e12, 3e12)");
    return rc;
}

static int parse_shapes(const char *text, sweep_config *s)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    int rc = LLMRT_OK;
    for (char *tok = strtok_r(copy, ", ", &save); tok && !rc; tok = strtok_r(NULL, ", ", &save)) {
        int layers, dim, used = 0;
        if (sscanf(tok, "%dx%d%n", &layers, &dim, &used) != 2 || tok[used] || layers < 1 ||
            dim < 1 || s->n_shapes == MAX_GRID)
            rc = llmrt_error(LLMRT_ERR_INVALID, "[sweep] shapes: '%s': expected up to %d "
                             "shapes LAYERSxDIM separated by commas (2x64, 4x128)", tok, MAX_GRID);
        else if (dim % s->head_dim)
            rc = llmrt_error(LLMRT_ERR_INVALID, "[sweep] shapes: '%s': dim %d is not a "
                             "multiple of [sweep] head_dim = %ld", tok, dim, s->head_dim);
        else s->layers[s->n_shapes] = layers, s->dims[s->n_shapes++] = dim;
    }
    free(copy);
    if (!rc && !s->n_shapes)
        rc = llmrt_error(LLMRT_ERR_INVALID, "[sweep] shapes is empty: give LAYERSxDIM shapes "
                         "separated by commas (2x64, 4x128)");
    return rc;
}

static int read_sweep_config(llmrt_config *cfg, sweep_config *s)
{
    const char *budgets, *shapes;
    memset(s, 0, sizeof *s);
    int rc;
    if ((rc = llmrt_config_string(cfg, "sweep", "out", "runs/sweep",
                                  "sweep directory: one run directory per grid point",
                                  &s->out)) ||
        (rc = llmrt_config_string(cfg, "sweep", "table", "",
                                  "results table (.csv, or .jsonl for JSON lines; default "
                                  "OUT/results.csv)", &s->table)) ||
        (rc = llmrt_config_string(cfg, "sweep", "budgets", "",
                                  "compute budgets C = 6 N D in FLOPs, comma-separated",
                                  &budgets)) ||
        (rc = llmrt_config_string(cfg, "sweep", "shapes", "",
                                  "model shapes LAYERSxDIM, comma-separated", &shapes)) ||
        (rc = llmrt_config_int(cfg, "sweep", "head_dim", 32, 1, 1 << 16,
                               "channels per attention head (heads = dim / head_dim)",
                               &s->head_dim)) ||
        (rc = llmrt_config_int(cfg, "sweep", "min_steps", 20, 1, 1000000000L,
                               "grid points with fewer optimizer steps are left out",
                               &s->min_steps)) ||
        (rc = llmrt_config_int(cfg, "sweep", "max_steps", 0, 0, 1000000000L,
                               "grid points with more optimizer steps are left out (0: none)",
                               &s->max_steps)) ||
        (rc = parse_budgets(budgets, s)) || (rc = parse_shapes(shapes, s)) ||
        (rc = llmrt_read_model_config(cfg, &s->base)) ||
        (rc = llmrt_config_int(cfg, "train", "batch", 8, 1, 1 << 20,
                               "sequences per micro-batch per rank", &s->batch)) ||
        (rc = llmrt_config_int(cfg, "train", "accum", 1, 1, 1 << 20,
                               "micro-batches accumulated per step", &s->accum)) ||
        (rc = llmrt_config_int(cfg, "train", "warmup", 0, 0, 1000000000L,
                               "linear warmup steps", &s->warmup)))
        return rc;
    return LLMRT_OK;
}

/* The final validation loss of a finished run: metrics.jsonl's last record
 * is step `steps` and has one. Returns 1 (finished) or 0. */
static int run_finished(const char *dir, long steps, double *val)
{
    char path[4096], line[4096], last[4096] = "";
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strspn(line, " \t\r\n") != strlen(line)) memcpy(last, line, sizeof line);
    fclose(f);
    json_t *o = json_loads(last, 0, NULL);
    json_t *step = json_object_get(o, "step"), *v = json_object_get(o, "val_loss");
    int done = json_is_integer(step) && json_integer_value(step) == steps && json_is_number(v);
    if (done) *val = json_number_value(v);
    json_decref(o);
    return done;
}

static int set(llmrt_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set(llmrt_config *cfg, const char *fmt, ...)
{
    char buf[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return llmrt_config_set(cfg, buf);
}

/* One run, in a child process so that every run starts from a fresh
 * process (no state shared between runs) and a crash stays in its log. */
static int train_child(llmrt_config *cfg, const llmrt_scaling_row *r, const char *dir,
                       const sweep_config *s)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/train.log", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return llmrt_error(LLMRT_ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
#ifdef __linux__
        /* A sweep killed by a signal takes its run with it (Ctrl-C reaches
         * both; kill PID only the sweep); the run resumes next time. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1) _exit(1);
#endif
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0) _exit(3);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        long warmup = s->warmup < r->steps / 10 ? s->warmup : r->steps / 10;
        long every = r->steps / 4 > 0 ? r->steps / 4 : 1;
        int rc = set(cfg, "model.layers=%d", r->layers) || set(cfg, "model.dim=%d", r->dim) ||
                 set(cfg, "model.heads=%d", r->heads) || set(cfg, "train.steps=%ld", r->steps) ||
                 set(cfg, "train.out=%s", dir) || set(cfg, "train.resume=auto") ||
                 set(cfg, "train.eval_every=0") || set(cfg, "train.warmup=%ld", warmup) ||
                 set(cfg, "train.checkpoint_every=%ld", every) || set(cfg, "train.keep=1");
        if (!rc) rc = llmrt_train_run(cfg);
        if (rc) fprintf(stderr, "llmrt: %s\n", llmrt_last_error());
        fflush(stderr);
        _exit(rc ? 1 : 0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return llmrt_error(LLMRT_ERR_IO, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return LLMRT_OK;
    if (WIFSIGNALED(status))
        return llmrt_error(LLMRT_ERR_IO, "run %s killed by signal %d (its log: %s)", r->run,
                           WTERMSIG(status), log);
    return llmrt_error(LLMRT_ERR_IO, "run %s failed (exit status %d; its log: %s)", r->run,
                       WEXITSTATUS(status), log);
}

int llmrt_sweep_run(llmrt_config *cfg, const llmrt_sweep_opts *opts)
{
    sweep_config s;
    int rc = read_sweep_config(cfg, &s);
    if (!rc) rc = llmrt_config_check_unknown(cfg, "sweep");
    if (rc) return rc;
    char table[4096];
    if (s.table[0]) snprintf(table, sizeof table, "%s", s.table);
    else snprintf(table, sizeof table, "%s/results.csv", s.out);
    if (!opts->dry_run && (rc = llmrt_mkdir_p(s.out))) return rc;

    size_t total = s.n_budgets * s.n_shapes, n_rows = 0, index = 0;
    llmrt_scaling_row *rows = calloc(total, sizeof *rows);
    if (!rows) return llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
    double tokens_per_step = (double)s.batch * (double)s.accum * s.base.context;
    long trained = 0, skipped = 0, left_out = 0, pending = 0;
    printf("sweep: %zu budgets x %zu shapes, %.0f tokens per step; runs in %s, table %s\n",
           s.n_budgets, s.n_shapes, tokens_per_step, s.out, table);
    for (size_t b = 0; b < s.n_budgets && !rc; b++) {
        for (size_t k = 0; k < s.n_shapes && !rc; k++) {
            index++;
            llmrt_scaling_row r = {0};
            llmrt_model_config mc = s.base;
            mc.layers = s.layers[k];
            mc.dim = s.dims[k];
            mc.heads = (int)(mc.dim / s.head_dim);
            char budget[32];
            snprintf(budget, sizeof budget, "%.3g", s.budgets[b]);
            char *plus = strchr(budget, '+');
            if (plus) memmove(plus, plus + 1, strlen(plus));
            snprintf(r.run, sizeof r.run, "C%s-L%d-d%d", budget, mc.layers, mc.dim);
            r.layers = mc.layers, r.dim = mc.dim, r.heads = mc.heads;
            r.params = (double)llmrt_model_n_params(&mc);
            r.budget = s.budgets[b];
            r.steps = lround(s.budgets[b] / (6.0 * r.params) / tokens_per_step);
            r.tokens = (double)r.steps * tokens_per_step;
            r.flops = 6.0 * r.params * r.tokens;
            printf("[%zu/%zu] %-18s N %9.0f  D %10.0f  %6ld steps  ", index, total, r.run,
                   r.params, r.tokens, r.steps);
            if (r.steps < s.min_steps || (s.max_steps > 0 && r.steps > s.max_steps)) {
                printf("left out (%s than [sweep] %s = %ld)\n",
                       r.steps < s.min_steps ? "fewer" : "more",
                       r.steps < s.min_steps ? "min_steps" : "max_steps",
                       r.steps < s.min_steps ? s.min_steps : s.max_steps);
                left_out++;
                continue;
            }
            char *dir = llmrt_path_join(s.out, r.run);
            if (!dir) {
                rc = llmrt_error(LLMRT_ERR_NOMEM, "out of memory");
                break;
            }
            if (run_finished(dir, r.steps, &r.val_loss)) {
                printf("finished earlier: val %.4f\n", r.val_loss);
                rows[n_rows++] = r;
                skipped++;
            } else if (opts->dry_run || (opts->max_runs > 0 && trained >= opts->max_runs)) {
                printf("%s\n", opts->dry_run ? "to run" : "not run (--max-runs)");
                pending++;
            } else if (!(rc = llmrt_mkdir_p(dir))) {
                fflush(stdout);
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                rc = train_child(cfg, &r, dir, &s);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (!rc && !run_finished(dir, r.steps, &r.val_loss))
                    rc = llmrt_error(LLMRT_ERR_FORMAT, "run %s ended without a validation "
                                     "loss at step %ld in %s/metrics.jsonl (is [data] val "
                                     "set?)", r.run, r.steps, dir);
                if (!rc) {
                    printf("val %.4f (%.1f s)\n", r.val_loss,
                           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
                    rows[n_rows++] = r;
                    trained++;
                    rc = llmrt_scaling_table_write(table, rows, n_rows);
                } else {
                    printf("failed\n");
                }
            }
            free(dir);
        }
    }
    if (!rc && !opts->dry_run) rc = llmrt_scaling_table_write(table, rows, n_rows);
    if (!rc)
        printf("sweep: %ld trained, %ld finished earlier, %ld left out, %ld not run; %zu rows "
               "in %s\n", trained, skipped, left_out, pending, n_rows, opts->dry_run ? "(dry run)" : table);
    free(rows);
    return rc;
}
