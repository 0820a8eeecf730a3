using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>libnftables (GPL-2.0) is loaded at run time when present, never linked: the nft binary is the fallback.</summary>
public static unsafe class NftablesLibrary
{
    private static readonly nint Handle = NativeLibrary.TryLoad("libnftables.so.1", out var h) ? h : 0;
    private static readonly delegate* unmanaged<uint, nint> CtxNew = (delegate* unmanaged<uint, nint>)Export("nft_ctx_new");
    private static readonly delegate* unmanaged<nint, int> BufferOutput = (delegate* unmanaged<nint, int>)Export("nft_ctx_buffer_output");
    private static readonly delegate* unmanaged<nint, int> BufferError = (delegate* unmanaged<nint, int>)Export("nft_ctx_buffer_error");
    private static readonly delegate* unmanaged<nint, byte*, int> RunCmd = (delegate* unmanaged<nint, byte*, int>)Export("nft_run_cmd_from_buffer");
    private static readonly delegate* unmanaged<nint, nint> GetOutput = (delegate* unmanaged<nint, nint>)Export("nft_ctx_get_output_buffer");
    private static readonly delegate* unmanaged<nint, nint> GetError = (delegate* unmanaged<nint, nint>)Export("nft_ctx_get_error_buffer");

    public static bool Available => Handle != 0 && CtxNew != null && RunCmd != null;

    private static nint Export(string name) => Handle != 0 && NativeLibrary.TryGetExport(Handle, name, out var f) ? f : 0;

    /// <summary>A context whose output and errors are captured in buffers. Contexts live for the process.</summary>
    public static nint NewContext()
    {
        nint ctx = CtxNew(0);
        if (ctx == 0) throw new InvalidOperationException("nft_ctx_new failed");
        BufferOutput(ctx);
        BufferError(ctx);
        return ctx;
    }

    /// <summary>Runs an nft script (one atomic transaction); returns (ok, output, error text).</summary>
    public static (bool Ok, string Output, string Error) Run(nint ctx, string commands)
    {
        byte[] utf8 = new byte[System.Text.Encoding.UTF8.GetByteCount(commands) + 1];
        System.Text.Encoding.UTF8.GetBytes(commands, utf8);
        int rc;
        fixed (byte* p = utf8) rc = RunCmd(ctx, p);
        string output = Marshal.PtrToStringUTF8(GetOutput(ctx)) ?? "";
        string error = Marshal.PtrToStringUTF8(GetError(ctx)) ?? "";
        return (rc == 0, output, error);
    }
}
