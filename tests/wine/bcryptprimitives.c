/*
 * bcryptprimitives.dll for Wine 8, used only by the Windows end-to-end tests
 * (tests/common/windows.rs compiles it and puts it next to onshi-agent.exe).
 *
 * Rust's standard library (1.78 and later) gets random bytes from
 * ProcessPrng in bcryptprimitives.dll. Real Windows 10 and 11 ship that DLL,
 * so the agent needs nothing there; Wine 8 (Debian bookworm) does not, and
 * the .exe would fail to load ("Library bcryptprimitives.dll ... not found").
 * This shim forwards to RtlGenRandom (SystemFunction036 in advapi32), which
 * Wine has. Windows searches the application's directory first, so the Wine
 * prefix needs no change. Never ship this file with the agent.
 *
 * x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk; len -= chunk;
    }
    return TRUE;
}
