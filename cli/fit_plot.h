/* fit_plot.h — `llmrt fit --plot`: the IsoFLOP profiles of a sweep with
 * their minima, the fitted law's IsoFLOP curves and its compute-optimal
 * frontier, drawn by gnuplot (SVG or PNG by the file's extension). */
#ifndef LLMRT_CLI_FIT_PLOT_H
#define LLMRT_CLI_FIT_PLOT_H

#include <stddef.h>

#include "scaling_law.h"
#include "scaling_table.h"

/* Draw into `path` (.svg, or .png through gnuplot's pngcairo). Errors: no
 * gnuplot on PATH (say which package), gnuplot failed (its first line). */
int llmrt_fit_plot(const char *path, const llmrt_scaling_row *rows, size_t n,
                   const llmrt_scaling_law *law);

#endif
