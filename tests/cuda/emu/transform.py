#!/usr/bin/env python3
"""transform.py SRC.cu OUT.cc: plugins/cuda/cuda_attention.cu rewritten for
the host emulation of emu.h (tests/cuda/emu/run): cuda_runtime.h becomes
emu.h, the inline-PTX helpers pack2 (cvt.rn.*x2.f32) and mma16816
(mma.sync.m16n8k16) become their emulations, extern __shared__ arrays point
at the launch's shared buffer and <<<grid, block, smem, s>>> launches become
emu_launch(). Fails loudly when the source no longer has the expected
shape."""
import re
import sys


def cut(s, start, end_marker, replacement):
    a = s.index(start)
    b = s.index(end_marker, a)
    return s[:a] + replacement + s[b:]


src = open(sys.argv[1]).read()
s = src.replace('#include <cuda_runtime.h>', '#include "emu.h"')
s = cut(s, 'template <int DT> __device__ __forceinline__ uint32_t pack2',
        '/* c += A B', '''template <int DT> inline uint32_t pack2(float lo, float hi)
{
    const bool bf = DT == CUK_FLASH_BF16;
    const uint16_t x = bf ? llmrt_f32_to_bf16(lo) : llmrt_f32_to_f16(lo);
    const uint16_t y = bf ? llmrt_f32_to_bf16(hi) : llmrt_f32_to_f16(hi);
    return (uint32_t)x | (uint32_t)y << 16;
}

''')
s = cut(s, 'template <int DT>\n__device__ __forceinline__ void mma16816',
        '/* The warp-level products', '''template <int DT>
inline void mma16816(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                     uint32_t b0, uint32_t b1)
{
    const uint32_t a[4] = {a0, a1, a2, a3}, b[2] = {b0, b1};
    emu_mma(DT == CUK_FLASH_BF16, c, a, b);
}

''')
s, shared = re.subn(r'extern __shared__ (\w+) (\w+)\[\];', r'\1 *\2 = (\1 *)emu_smem;', s)
s, launches = re.subn(r'(\w+(?:<[^<>]*>)?)<<<([^,]*), ([^,>]+), ([^,>]+), s>>>\((.*?)\);',
                      r'emu_launch(\1, \2, \3, \4, \5);', s)
if 'asm' in re.sub(r'\w*asm\w+', '', s) or '<<<' in s or not shared or not launches:
    sys.exit('transform.py: %s has changed shape (asm or launches left)' % sys.argv[1])
open(sys.argv[2], 'w').write(s)
