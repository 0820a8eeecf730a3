namespace Berth.Linux;

public static partial class Interop
{
    [System.Runtime.InteropServices.LibraryImport(Libc, EntryPoint = "malloc_trim")]
    private static partial int malloc_trim(nuint pad);

    /// <summary>Hands the native heap's free pages back to the kernel. glibc keeps what a burst of small allocations
    /// freed (libnftables parsing 10,000 map elements leaves tens of MB) as long as one chunk above it is in use.</summary>
    public static void TrimNativeHeap() => malloc_trim(0);
}
