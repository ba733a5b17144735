/* fit_plot.c — the sweep's plot, drawn by gnuplot (see fit_plot.h). The
 * curves are computed here and handed to gnuplot as data, so the plot
 * shows exactly the law that was saved. */
#include "fit_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

#define MAX_PROFILES 32

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The profiles' budgets, sorted: the table's budget column, else each
 * row's 6ND rounded to two digits. */
static double row_budget(const llmrt_scaling_row *r)
{
    if (isfinite(r->budget)) return r->budget;
    double c = 6.0 * r->params * r->tokens, e = pow(10.0, floor(log10(c)) - 1);
    return round(c / e) * e;
}

static int has_extension(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && !strcmp(path + n - m, ext);
}

static int run_gnuplot(const char *script, const char *errlog)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return llmrt_error(LLMRT_ERR_IO, "fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *e = freopen(errlog, "w", stderr);
        (void)e;
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return llmrt_error(LLMRT_ERR_IO, "waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return llmrt_error(LLMRT_ERR_UNSUPPORTED, "--plot: gnuplot not found on PATH (apt-get "
                           "install gnuplot-nox, or leave out --plot)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[512] = "";
        FILE *f = fopen(errlog, "r");
        if (f) {
            while (fgets(line, sizeof line, f) && strspn(line, " \t\r\n") == strlen(line)) {}
            fclose(f);
        }
        line[strcspn(line, "\r\n")] = '\0';
        return llmrt_error(LLMRT_ERR_IO, "--plot: gnuplot failed: %s", line);
    }
    return LLMRT_OK;
}

int llmrt_fit_plot(const char *path, const llmrt_scaling_row *rows, size_t n,
                   const llmrt_scaling_law *law)
{
    int png = has_extension(path, ".png");
    if (!png && !has_extension(path, ".svg"))
        return llmrt_error(LLMRT_ERR_INVALID, "--plot %s: the file must end in .svg or .png",
                           path);
    double budgets[MAX_PROFILES];
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        double c = row_budget(&rows[i]);
        size_t k;
        for (k = 0; k < nb && fabs(budgets[k] - c) > 1e-9 * c; k++) {}
        if (k == nb) {
            if (nb == MAX_PROFILES)
                return llmrt_error(LLMRT_ERR_INVALID, "--plot: more than %d compute budgets",
                                   MAX_PROFILES);
            budgets[nb++] = c;
        }
    }
    qsort(budgets, nb, sizeof *budgets, cmp_double);
    double nmin = INFINITY, nmax = 0, lmin = INFINITY, lmax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        nmin = fmin(nmin, rows[i].params), nmax = fmax(nmax, rows[i].params);
        lmin = fmin(lmin, rows[i].val_loss), lmax = fmax(lmax, rows[i].val_loss);
    }
    double span = fmax(lmax - lmin, 0.1);

    char dir[] = "/tmp/llmrt-plot-XXXXXX";
    if (!mkdtemp(dir)) return llmrt_error(LLMRT_ERR_IO, "mkdtemp: %s", strerror(errno));
    char data[64], script[64], errlog[64];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(script, sizeof script, "%s/plot.gp", dir);
    snprintf(errlog, sizeof errlog, "%s/gnuplot.err", dir);
    FILE *d = fopen(data, "w"), *g = fopen(script, "w");
    int rc = LLMRT_OK;
    if (!d || !g) {
        rc = llmrt_error(LLMRT_ERR_IO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    /* Data blocks, three per budget (measured points sorted by N, the
     * measured minimum, the law's IsoFLOP curve), then the frontier. */
    for (size_t b = 0; b < nb; b++) {
        size_t best = n;
        double pts[256][2];
        size_t m = 0;
        for (size_t i = 0; i < n && m < 256; i++)
            if (fabs(row_budget(&rows[i]) - budgets[b]) <= 1e-9 * budgets[b]) {
                pts[m][0] = rows[i].params;
                pts[m][1] = rows[i].val_loss;
                if (best == n || rows[i].val_loss < rows[best].val_loss) best = i;
                m++;
            }
        qsort(pts, m, sizeof pts[0], cmp_double);
        fprintf(d, "# budget %g: measured\n", budgets[b]);
        for (size_t i = 0; i < m; i++) fprintf(d, "%.10g %.10g\n", pts[i][0], pts[i][1]);
        fprintf(d, "\n\n# minimum\n%.10g %.10g\n\n\n# law\n", rows[best].params,
                rows[best].val_loss);
        for (int k = 0; k <= 100; k++) {
            double N = nmin / 2 * pow(nmax * 2 / (nmin / 2), k / 100.0);
            fprintf(d, "%.10g %.10g\n", N, llmrt_scaling_law_loss(law, N, budgets[b] / (6 * N)));
        }
        fprintf(d, "\n\n");
    }
    fprintf(d, "# frontier\n");
    for (int k = 0; k <= 100; k++) {
        double C = budgets[0] / 2 * pow(budgets[nb - 1] * 2 / (budgets[0] / 2), k / 100.0), N, D;
        llmrt_scaling_law_optimal(law, C, &N, &D);
        fprintf(d, "%.10g %.10g\n", N, llmrt_scaling_law_loss(law, N, D));
    }
    fprintf(g, "set terminal %s size 900,600 font 'sans,12'\n",
            png ? "pngcairo enhanced" : "svg enhanced background rgb 'white'");
    fprintf(g, "set output '%s'\n", path);
    /* The measured sizes are the x tics (a sweep spans a decade or two). */
    fprintf(g, "set logscale x\nset grid\nset xtics rotate by -30 (");
    for (size_t i = 0, first = 1; i < n; i++) {
        size_t j;
        for (j = 0; j < i && rows[j].params != rows[i].params; j++) {}
        if (j < i) continue;
        fprintf(g, "%s'%.3g' %.10g", first ? "" : ", ", rows[i].params, rows[i].params);
        first = 0;
    }
    fprintf(g, ")\nset xrange [%g:%g]\nset yrange [%g:%g]\n"
               "set xlabel 'parameters N'\nset ylabel 'validation loss (nats per token)'\n"
               "set title 'IsoFLOP profiles; fit L = %.3g + %.3g/N^{%.3f} + %.3g/D^{%.3f}'\n"
               "set key below maxrows 3\n",
            nmin / 2, nmax * 2, lmin - 0.2 * span, lmax + 0.2 * span, law->E, law->A,
            law->alpha, law->B, law->beta);
    fprintf(g, "plot \\\n");
    for (size_t b = 0; b < nb; b++) {
        fprintf(g, "  '%s' index %zu with linespoints lc %zu pt 7 title 'C = %.3g FLOPs', \\\n",
                data, 3 * b, b + 1, budgets[b]);
        fprintf(g, "  '%s' index %zu with points lc %zu pt 6 ps 2.5 lw 2 notitle, \\\n", data,
                3 * b + 1, b + 1);
        fprintf(g, "  '%s' index %zu with lines lc %zu dt 2 notitle, \\\n", data, 3 * b + 2,
                b + 1);
    }
    fprintf(g, "  '%s' index %zu with lines lc rgb 'black' lw 2 title 'compute-optimal "
               "frontier (fit)', \\\n", data, 3 * nb);
    fprintf(g, "  NaN with points lc rgb 'gray' pt 6 ps 2.5 lw 2 title 'minimum of each "
               "profile', \\\n  NaN with lines lc rgb 'gray' dt 2 title 'fitted law at each C'\n");
    if (fclose(d) | fclose(g)) {
        d = g = NULL;
        rc = llmrt_error(LLMRT_ERR_IO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    d = g = NULL;
    rc = run_gnuplot(script, errlog);
out:
    if (d) fclose(d);
    if (g) fclose(g);
    llmrt_rm_rf(dir);
    return rc;
}
