/* metrics.h — what a run reports: the JSON-lines step log, the run
 * description, and the live progress line.
 *
 *  - OUT/metrics.jsonl: one JSON object per line and per logged step, with
 *    exactly the fields of llmrt_metrics_record, in this order:
 *      {"step":120,"loss":2.134,"val_loss":null,"lr":0.0003,"grad_norm":0.91,
 *       "tokens_per_s":3210.5,"mfu":0.412,"elapsed_s":61.2}
 *    A value that is NAN (val_loss when no evaluation ran at that step, mfu
 *    when the peak is unknown, a diverged loss) is written as null. mfu is a
 *    fraction of peak (0.412 = 41.2%). Each line is flushed as it is written.
 *    A resumed run first drops the records past the step it resumed from
 *    (the file is rewritten atomically), then appends, so the log reads as
 *    one uninterrupted run.
 *  - OUT/run.json: one JSON object describing the run (backend, collective,
 *    strategy, peak FLOP/s and where it came from, ...), written atomically.
 *  - the progress line: on a terminal, one line redrawn in place
 *      " step 120/2000 | loss 2.134 | val 2.210 | 3,210 tok/s | MFU 41.2% | ETA 4m12s"
 *    otherwise the same text as a plain line every N steps. */
#ifndef LLMRT_CORE_METRICS_H
#define LLMRT_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LLMRT_METRICS_FILE "metrics.jsonl"
#define LLMRT_RUN_INFO_FILE "run.json"

typedef struct llmrt_metrics_record {
    uint64_t step;       /* optimizer steps completed */
    double loss;         /* training loss of this step */
    double val_loss;     /* NAN: not evaluated at this step */
    double lr;
    double grad_norm;    /* global norm before clipping */
    double tokens_per_s; /* all ranks */
    double mfu;          /* fraction of peak; NAN: unknown */
    double elapsed_s;    /* training time since the run began (continues on resume) */
    double loss_scale;   /* fp16 dynamic loss scale used by this step; 0: no scaling */
    int skipped;         /* 1: the step overflowed and was skipped (fp16) */
} llmrt_metrics_record;

/* ------------------------------------------------------------------ metrics.jsonl */

typedef struct llmrt_metrics llmrt_metrics;

/* Open OUT/metrics.jsonl (creating OUT if needed). A fresh run (resume = 0)
 * starts an empty file; a resumed run keeps the records with
 * step <= resume_step, drops the rest (and any torn last line) and appends. */
int llmrt_metrics_open(llmrt_metrics **out, const char *out_dir, int resume,
                       uint64_t resume_step);
/* Append one record and flush it. */
int llmrt_metrics_log(llmrt_metrics *m, const llmrt_metrics_record *r);
const char *llmrt_metrics_path(const llmrt_metrics *m);
void llmrt_metrics_close(llmrt_metrics *m);

/* One record as its JSON line (no newline); returns the length like
 * snprintf. */
size_t llmrt_metrics_format(const llmrt_metrics_record *r, char *buf, size_t cap);

/* ------------------------------------------------------------------ run.json */

typedef struct llmrt_run_info llmrt_run_info;

int llmrt_run_info_new(llmrt_run_info **out);
void llmrt_run_info_free(llmrt_run_info *ri);
/* Set a top-level field (a later call for the same key replaces it). A NAN
 * number is written as null. */
int llmrt_run_info_str(llmrt_run_info *ri, const char *key, const char *value);
int llmrt_run_info_num(llmrt_run_info *ri, const char *key, double value);
int llmrt_run_info_int(llmrt_run_info *ri, const char *key, long long value);
int llmrt_run_info_bool(llmrt_run_info *ri, const char *key, int value);
/* Write the object to `path` (normally OUT/run.json), atomically. */
int llmrt_run_info_write(const llmrt_run_info *ri, const char *path);

/* ------------------------------------------------------------------ progress */

typedef struct llmrt_progress llmrt_progress;

/* Report to `stream` (stderr when NULL) for a run of `total_steps` steps
 * (0: unknown, no ETA). On a terminal the line is redrawn at most ten times
 * a second; otherwise a plain line is printed every `every` steps (>= 1),
 * at the last step, and at every step with a validation loss. */
int llmrt_progress_new(llmrt_progress **out, FILE *stream, uint64_t total_steps,
                       uint64_t every);
/* Force terminal (1) or plain (0) output instead of isatty(). */
void llmrt_progress_set_tty(llmrt_progress *p, int tty);
void llmrt_progress_update(llmrt_progress *p, const llmrt_metrics_record *r);
/* Erase the live line so that other output can be printed; the next update
 * draws it again. No-op when not on a terminal. */
void llmrt_progress_clear(llmrt_progress *p);
/* End the live line with a newline (call once, at the end of the run). */
void llmrt_progress_finish(llmrt_progress *p);
void llmrt_progress_free(llmrt_progress *p);

/* The line's text for record `r` (no "\r", no newline), as update() would
 * print it, without printing or changing `p`'s rate state. */
size_t llmrt_progress_format(const llmrt_progress *p, const llmrt_metrics_record *r, char *buf,
                             size_t cap);
/* "4m12s", "37s", "2h05m", "3d04h"; "--" for a negative or non-finite time. */
void llmrt_format_duration(double seconds, char *buf, size_t cap);
/* 3210.4 -> "3,210". */
void llmrt_format_thousands(double value, char *buf, size_t cap);

#endif
