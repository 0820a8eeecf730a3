using System.Buffers.Binary;
using System.Text;

namespace Berth.Networking.Netlink;

/// <summary>Builds one netlink message: header, a fixed family header, then attributes (nested ones too).
/// Pure: no socket, so encoding is unit-tested byte by byte.</summary>
public sealed class NetlinkMessageWriter
{
    public const ushort NLM_F_REQUEST = 1, NLM_F_MULTI = 2, NLM_F_ACK = 4, NLM_F_DUMP = 0x300,
        NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    public const ushort NLA_F_NESTED = 0x8000;

    private byte[] _buffer = new byte[256];
    private int _length;
    private readonly Stack<int> _nests = new();

    public NetlinkMessageWriter(ushort type, ushort flags)
    {
        _length = 16;
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(6), flags);
    }

    public NetlinkMessageWriter Bytes(ReadOnlySpan<byte> data)
    {
        Ensure(data.Length);
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
        return this;
    }

    public NetlinkMessageWriter Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        int total = 4 + value.Length;
        Ensure(Align(total));
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_length), (ushort)total);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_length + 2), type);
        value.CopyTo(_buffer.AsSpan(_length + 4));
        _buffer.AsSpan(_length + total, Align(total) - total).Clear();
        _length += Align(total);
        return this;
    }

    public NetlinkMessageWriter Attribute(ushort type, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return Attribute(type, b);
    }

    public NetlinkMessageWriter Attribute(ushort type, byte value) => Attribute(type, [value]);

    /// <summary>A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND).</summary>
    public NetlinkMessageWriter Attribute(ushort type, string value)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        return Attribute(type, bytes);
    }

    public NetlinkMessageWriter BeginNested(ushort type)
    {
        Ensure(4);
        _nests.Push(_length);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_length + 2), (ushort)(type | NLA_F_NESTED));
        _length += 4;
        return this;
    }

    public NetlinkMessageWriter EndNested()
    {
        int start = _nests.Pop();
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), (ushort)(_length - start));
        return this;
    }

    /// <summary>The finished message with its length and sequence number filled in.</summary>
    public byte[] ToArray(uint sequence)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer, (uint)_length);
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(8), sequence);
        return _buffer.AsSpan(0, _length).ToArray();
    }

    public static int Align(int length) => (length + 3) & ~3;

    private void Ensure(int more)
    {
        if (_length + more > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
    }
}

/// <summary>Reads the attributes that follow a fixed header inside a message.</summary>
public static class NetlinkAttributes
{
    public static Dictionary<ushort, byte[]> Parse(ReadOnlySpan<byte> data)
    {
        var attributes = new Dictionary<ushort, byte[]>();
        while (data.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(data);
            ushort type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(data[2..]) & 0x3fff);
            if (length < 4 || length > data.Length) break;
            attributes[type] = data[4..length].ToArray();
            int advance = NetlinkMessageWriter.Align(length);
            data = advance >= data.Length ? [] : data[advance..];
        }
        return attributes;
    }

    public static string String(byte[] value) => Encoding.UTF8.GetString(value).TrimEnd('\0');
}
