using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Berth.Networking.Dns;

/// <summary>The question of a DNS query (RFC 1035 §4.1), parsed defensively: anything malformed gives null and the
/// packet is dropped. Only the few fields the resolver needs are read; the raw packet is kept for forwarding.</summary>
public sealed record DnsQuery(ushort Id, int Opcode, bool RecursionDesired, string Name, ushort Type, ushort Class,
    int QuestionEnd, int? EdnsUdpSize)
{
    public const ushort TypeA = 1, TypePtr = 12, TypeAaaa = 28, TypeOpt = 41, ClassIn = 1;
    private const int MaxNameLength = 255;

    public static DnsQuery? Parse(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 12 || packet.Length > 65535) return null;
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        if ((flags & 0x8000) != 0) return null; // a response, not a query: never answer it (no reflection loops)
        ushort questions = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        if (questions != 1) return null;
        int offset = 12;
        string? name = ReadName(packet, ref offset);
        if (name is null || offset + 4 > packet.Length) return null;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        ushort @class = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        int questionEnd = offset + 4;
        return new DnsQuery(BinaryPrimitives.ReadUInt16BigEndian(packet), (flags >> 11) & 0xf, (flags & 0x0100) != 0,
            name, type, @class, questionEnd, FindEdnsSize(packet, questionEnd));
    }

    /// <summary>Reads a name without compression pointers (a question has none); lower-cased, no trailing dot.</summary>
    private static string? ReadName(ReadOnlySpan<byte> packet, ref int offset)
    {
        var name = new StringBuilder();
        while (true)
        {
            if (offset >= packet.Length) return null;
            int length = packet[offset++];
            if (length == 0) break;
            if ((length & 0xc0) != 0 || offset + length > packet.Length) return null;
            if (name.Length > 0) name.Append('.');
            foreach (byte b in packet.Slice(offset, length))
            {
                if (b <= 0x20 || b >= 0x7f || b == '.') return null; // only printable label characters
                name.Append(char.ToLowerInvariant((char)b));
            }
            offset += length;
            if (name.Length > MaxNameLength) return null;
        }
        return name.ToString();
    }

    /// <summary>The UDP payload size of an OPT record in the additional section, when it is the only record there.</summary>
    private static int? FindEdnsSize(ReadOnlySpan<byte> packet, int offset)
    {
        if (BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) != 0 || BinaryPrimitives.ReadUInt16BigEndian(packet[8..]) != 0
            || BinaryPrimitives.ReadUInt16BigEndian(packet[10..]) != 1)
            return null;
        if (offset + 11 > packet.Length || packet[offset] != 0) return null; // OPT's owner name is the root
        if (BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 1)..]) != TypeOpt) return null;
        return Math.Clamp((int)BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 3)..]), 512, 4096);
    }

    /// <summary>The address of an in-addr.arpa name ("4.3.2.1.in-addr.arpa" is 1.2.3.4) or of an ip6.arpa name (32
    /// nibbles, lowest first: "1.0.0.0...0.d.f.ip6.arpa" is fd00::1), or null.</summary>
    public static IPAddress? ReverseAddress(string name)
    {
        const string suffix = ".in-addr.arpa", suffix6 = ".ip6.arpa";
        if (name.EndsWith(suffix6, StringComparison.Ordinal)) return ReverseIpv6(name[..^suffix6.Length]);
        if (!name.EndsWith(suffix, StringComparison.Ordinal)) return null;
        string[] parts = name[..^suffix.Length].Split('.');
        if (parts.Length != 4) return null;
        Array.Reverse(parts);
        return IPAddress.TryParse(string.Join('.', parts), out var address) ? address : null;
    }

    private static IPAddress? ReverseIpv6(string nibbles)
    {
        // 32 single hex digits separated by dots: 63 characters exactly.
        if (nibbles.Length != 63) return null;
        var bytes = new byte[16];
        for (int i = 0; i < 32; i++)
        {
            char c = nibbles[i * 2];
            if (!char.IsAsciiHexDigit(c) || i < 31 && nibbles[i * 2 + 1] != '.') return null;
            int value = Convert.ToInt32(c.ToString(), 16);
            int index = 15 - i / 2;
            bytes[index] |= (byte)(i % 2 == 0 ? value : value << 4);
        }
        return new IPAddress(bytes);
    }
}

/// <summary>Builds answers to a <see cref="DnsQuery"/>: the header and question echoed, then the answer records.</summary>
public static class DnsResponse
{
    public const int NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5;
    private const uint Ttl = 600; // Docker's TTL for container names

    public static byte[] Build(ReadOnlySpan<byte> query, DnsQuery parsed, int rcode, IReadOnlyList<IPAddress> addresses,
        string? pointer, int maxSize)
    {
        var answers = new List<byte[]>();
        foreach (var address in addresses)
            answers.Add(Record(parsed.Type, address.GetAddressBytes()));
        if (pointer is not null) answers.Add(Record(DnsQuery.TypePtr, EncodeName(pointer)));
        bool edns = parsed.EdnsUdpSize is not null;
        int size = parsed.QuestionEnd + answers.Sum(a => a.Length) + (edns ? 11 : 0);
        bool truncated = size > maxSize;
        if (truncated) answers.Clear();

        var output = new byte[parsed.QuestionEnd + answers.Sum(a => a.Length) + (edns ? 11 : 0)];
        query[..parsed.QuestionEnd].CopyTo(output);
        int flags = 0x8000 | (parsed.Opcode << 11) | 0x0400 /* AA */ | (truncated ? 0x0200 : 0)
            | (parsed.RecursionDesired ? 0x0100 : 0) | 0x0080 /* RA */ | rcode;
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(2), (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(6), (ushort)answers.Count);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(8), 0);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(10), (ushort)(edns ? 1 : 0));
        int offset = parsed.QuestionEnd;
        foreach (var answer in answers)
        {
            answer.CopyTo(output, offset);
            offset += answer.Length;
        }
        if (edns)
        {
            var opt = output.AsSpan(offset);
            opt[0] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(opt[1..], DnsQuery.TypeOpt);
            BinaryPrimitives.WriteUInt16BigEndian(opt[3..], 4096);
            // extended rcode, version, flags and rdata length stay zero
        }
        return output;
    }

    /// <summary>Header-only failure answer (SERVFAIL, NOTIMP...) echoing the question.</summary>
    public static byte[] Failure(ReadOnlySpan<byte> query, DnsQuery parsed, int rcode)
    {
        var output = query[..parsed.QuestionEnd].ToArray();
        int flags = 0x8000 | (parsed.Opcode << 11) | (parsed.RecursionDesired ? 0x0100 : 0) | 0x0080 | rcode;
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(2), (ushort)flags);
        output.AsSpan(6, 6).Clear();
        return output;
    }

    /// <summary>An upstream's UDP answer cut to the client's limit: only the header and question, with TC set.</summary>
    public static byte[] Truncate(byte[] answer, DnsQuery parsed)
    {
        if (answer.Length < parsed.QuestionEnd) return answer[..12];
        var output = answer[..parsed.QuestionEnd];
        output[2] |= 0x02;
        output.AsSpan(6, 6).Clear();
        return output;
    }

    private static byte[] Record(ushort type, byte[] data)
    {
        var record = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(record, 0xc00c); // the question's name
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(2), type);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(4), DnsQuery.ClassIn);
        BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(6), Ttl);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(10), (ushort)data.Length);
        data.CopyTo(record, 12);
        return record;
    }

    public static byte[] EncodeName(string name)
    {
        var output = new List<byte>();
        foreach (string label in name.TrimEnd('.').Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bytes = Encoding.ASCII.GetBytes(label);
            if (bytes.Length > 63) throw new ArgumentException($"DNS label too long: {label}");
            output.Add((byte)bytes.Length);
            output.AddRange(bytes);
        }
        output.Add(0);
        return output.ToArray();
    }
}
