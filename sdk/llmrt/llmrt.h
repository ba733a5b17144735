/* llmrt/llmrt.h — everything a plugin author needs, in one include. */
#ifndef LLMRT_LLMRT_H
#define LLMRT_LLMRT_H
#include <llmrt/types.h>
#include <llmrt/host.h>
#include <llmrt/plugin.h>
#include <llmrt/compute.h>
#include <llmrt/collective.h>
#include <llmrt/strategy.h>
#include <llmrt/format.h>
#include <llmrt/convert.h>
#endif
