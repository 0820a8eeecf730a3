namespace Berth.Engine.Containers;

/// <summary>The key sequence that leaves an attach or `exec -it` on a terminal without stopping the process,
/// written as Docker writes it: comma-separated keys, each one character or `ctrl-X` (X a letter or one of
/// <c>@ [ \ ] ^ _</c>); ctrl-p,ctrl-q when none is given.</summary>
public static class DetachKeys
{
    public const string Default = "ctrl-p,ctrl-q";

    /// <summary>The bytes of <paramref name="keys"/>, or null when it is not a valid sequence.</summary>
    public static byte[]? Parse(string keys)
    {
        var bytes = new List<byte>();
        foreach (string key in keys.Split(','))
        {
            if (key.Length == 1 && key[0] < 0x80)
            {
                bytes.Add((byte)key[0]);
                continue;
            }
            if (key.Length != 6 || !key.StartsWith("ctrl-", StringComparison.OrdinalIgnoreCase)) return null;
            char c = char.ToLowerInvariant(key[5]);
            if (c is >= 'a' and <= 'z') bytes.Add((byte)(c - 'a' + 1));
            else if ("@[\\]^_".IndexOf(c) is int index and >= 0) bytes.Add((byte)(index == 0 ? 0 : 26 + index));
            else return null;
        }
        return bytes.Count > 0 ? bytes.ToArray() : null;
    }
}

/// <summary>Finds a detach sequence in a client's keyboard bytes. Bytes that may start the sequence are held back
/// until it is clear they do not (then they pass on, in order); the sequence itself never reaches the process.</summary>
public sealed class DetachKeyScanner(byte[] sequence)
{
    private int _matched;

    /// <summary>Appends to <paramref name="output"/> what the process should get of <paramref name="input"/>; true
    /// when the sequence is complete (the bytes after it are dropped, as the client has left).</summary>
    public bool Scan(ReadOnlySpan<byte> input, List<byte> output)
    {
        foreach (byte b in input)
        {
            if (b == sequence[_matched])
            {
                if (++_matched == sequence.Length) return true;
                continue;
            }
            // A held prefix that does not go on: it was typed, not a sequence. Retry this byte from the start.
            for (int i = 0; i < _matched; i++) output.Add(sequence[i]);
            _matched = 0;
            if (b == sequence[0])
            {
                if (++_matched == sequence.Length) return true;
            }
            else output.Add(b);
        }
        return false;
    }
}
