#!/usr/bin/env python3
"""transform.py SRC.cu OUT.cc: a kernel file of plugins/cuda rewritten for
the host emulation of emu.h (tests/cuda/emu/run): cuda_runtime.h becomes
emu.h and cub's header goes (emu.h has SortPairs), the inline-PTX helpers
of cuda_attention.cu, pack2 (cvt.rn.*x2.f32) and mma16816
(mma.sync.m16n8k16), become their emulations, extern __shared__ arrays
point at the launch's shared buffer, static __shared__ arrays become one
buffer per block (emu_static_shared) and every kernel<<<grid, block[, smem[,
stream]]>>>(args) launch becomes emu_launch(kernel, grid, block, smem,
args). Fails loudly when the source no longer has a shape it knows."""
import re
import sys


def fail(why):
    sys.exit('transform.py: %s: %s' % (sys.argv[1], why))


def cut(s, start, end_marker, replacement):
    a = s.index(start)
    b = s.index(end_marker, a)
    return s[:a] + replacement + s[b:]


def balanced(s, i, open_c, close_c, step):
    """Index of the bracket matching s[i] (scanning forward or backward)."""
    depth = 0
    while 0 <= i < len(s):
        if s[i] == open_c:
            depth += 1
        elif s[i] == close_c:
            depth -= 1
            if depth == 0:
                return i
        i += step
    fail('unbalanced %s%s' % (open_c, close_c) if step > 0 else 'unbalanced')


def split_top(s):
    """s split at the commas outside any brackets."""
    parts, depth, cur = [], 0, ''
    for c in s:
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur.strip())
            cur = ''
        else:
            cur += c
    parts.append(cur.strip())
    return parts


def launches(s):
    n = 0
    while True:
        a = s.find('<<<')
        if a < 0:
            return s, n
        b = s.index('>>>', a)
        cfg = split_top(s[a + 3:b])
        if not 2 <= len(cfg) <= 4:
            fail('launch configuration %r' % s[a:b + 3])
        grid, block = cfg[0], cfg[1]
        smem = cfg[2] if len(cfg) > 2 else '0'
        # The kernel: an identifier, maybe with template arguments.
        k = a
        if s[k - 1] == '>':
            k = balanced(s, k - 1, '>', '<', -1)
        m = re.search(r'[A-Za-z_]\w*$', s[:k])
        if not m:
            fail('no kernel name before %r' % s[a:b + 3])
        k0 = m.start()
        p = b + 3
        if s[p] != '(':
            fail('no argument list after %r' % s[a:b + 3])
        q = balanced(s, p, '(', ')', 1)
        args = s[p + 1:q].strip()
        call = 'emu_launch(%s, %s, %s, %s%s)' % (s[k0:a], grid, block, smem,
                                                 ', ' + args if args else '')
        s = s[:k0] + call + s[q + 1:]
        n += 1


src = open(sys.argv[1]).read()
s = src.replace('#include <cuda_runtime.h>', '#include "emu.h"')
s = s.replace('#include <cub/device/device_radix_sort.cuh>', '')
if 'pack2' in s:
    s = cut(s, 'template <int DT> __device__ __forceinline__ uint32_t pack2',
            '/* c += A B', '''template <int DT> inline uint32_t pack2(float lo, float hi)
{
    const bool bf = DT == CUK_FLASH_BF16;
    const uint16_t x = bf ? llmrt_f32_to_bf16(lo) : llmrt_f32_to_f16(lo);
    const uint16_t y = bf ? llmrt_f32_to_bf16(hi) : llmrt_f32_to_f16(hi);
    return (uint32_t)x | (uint32_t)y << 16;
}

''')
if 'mma16816' in s:
    s = cut(s, 'template <int DT>\n__device__ __forceinline__ void mma16816',
            '/* The warp-level products', '''template <int DT>
inline void mma16816(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                     uint32_t b0, uint32_t b1)
{
    const uint32_t a[4] = {a0, a1, a2, a3}, b[2] = {b0, b1};
    emu_mma(DT == CUK_FLASH_BF16, c, a, b);
}

''')
s = re.sub(r'extern __shared__ (\w+) (\w+)\[\];', r'\1 *\2 = (\1 *)emu_smem;', s)
s = re.sub(r'__shared__ (\w+) (\w+)\[([^\]]+)\];',
           r'\1 *\2 = (\1 *)emu_static_shared(sizeof(\1) * (\3));', s)
s, n = launches(s)
code = re.sub(r'/\*.*?\*/', '', re.sub(r'//[^\n]*', '', s, flags=re.S), flags=re.S)
if re.search(r'\basm\b', code) or '<<<' in code or '__shared__' in code or not n:
    fail('has changed shape (asm, launches or __shared__ left, or no launch)')
open(sys.argv[2], 'w').write(s)
