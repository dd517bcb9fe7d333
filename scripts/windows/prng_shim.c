/*
 * TEST ONLY — never shipped. Wine 8 lacks ProcessPrng in bcryptprimitives.dll, which the
 * Rust standard library (>= 1.78) imports; without it vt-agent.exe exits with status 53
 * before main under Wine. Real Windows 8 and later have the function. scripts/windows.sh
 * builds this next to the test exe only.
 *
 *   x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll prng_shim.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
