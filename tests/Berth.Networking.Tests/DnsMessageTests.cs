using System.Buffers.Binary;
using System.Net;
using Berth.Networking.Dns;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The resolver's wire format and its answers, without sockets: malformed input is dropped (null), never
/// thrown; answers carry the flags, counts and truncation clients rely on.</summary>
public sealed class DnsMessageTests
{
    public static byte[] Query(string name, ushort type, ushort id = 0x1234, int? ednsSize = null, ushort flags = 0x0100)
    {
        var packet = new List<byte>();
        var header = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, id);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), (ushort)(ednsSize is null ? 0 : 1));
        packet.AddRange(header);
        packet.AddRange(DnsResponse.EncodeName(name));
        packet.AddRange([(byte)(type >> 8), (byte)type, 0, 1]);
        if (ednsSize is int size) packet.AddRange([0, 0, 41, (byte)(size >> 8), (byte)size, 0, 0, 0, 0, 0, 0]);
        return packet.ToArray();
    }

    private sealed class FakeNames : IDnsNames
    {
        public Dictionary<string, IPAddress[]> Names { get; } = new();
        public IReadOnlyList<IPAddress>? Lookup(string clientId, string name) => Names.GetValueOrDefault(name);
        public string? ReverseLookup(string clientId, IPAddress address) =>
            Names.FirstOrDefault(n => n.Value.Contains(address)).Key is { } name ? name + ".net1" : null;
        public IReadOnlyList<IPAddress> DnsServers(string clientId) => [];
    }

    private static DnsAnswerer Answerer(FakeNames names) => new(names, new DnsForwarder(), new HostResolvConf("/nonexistent"));

    [Fact]
    public void A_query_parses_lower_cased_with_its_type_and_edns_size()
    {
        var query = DnsQuery.Parse(Query("Web.Example", DnsQuery.TypeAaaa, ednsSize: 1232))!;
        Assert.Equal(("web.example", DnsQuery.TypeAaaa, 0x1234, 1232), (query.Name, query.Type, (int)query.Id, query.EdnsUdpSize));
        Assert.True(query.RecursionDesired);
    }

    [Fact]
    public void Malformed_packets_are_dropped_not_thrown()
    {
        var good = Query("web", DnsQuery.TypeA);
        Assert.Null(DnsQuery.Parse(good.AsSpan(0, 11)));                        // shorter than a header
        Assert.Null(DnsQuery.Parse(good.AsSpan(0, good.Length - 2)));           // question cut short
        Assert.Null(DnsQuery.Parse(Query("web", DnsQuery.TypeA, flags: 0x8100))); // a response
        var twoQuestions = (byte[])good.Clone();
        twoQuestions[5] = 2;
        Assert.Null(DnsQuery.Parse(twoQuestions));
        var overrun = (byte[])good.Clone();
        overrun[12] = 60;                                                        // label longer than the packet
        Assert.Null(DnsQuery.Parse(overrun));
        var pointer = (byte[])good.Clone();
        pointer[12] = 0xc0;                                                      // compression pointer loop bait
        Assert.Null(DnsQuery.Parse(pointer));
        string longName = string.Join('.', Enumerable.Repeat(new string('a', 63), 5));
        Assert.Null(DnsQuery.Parse(Query(longName, DnsQuery.TypeA)));           // over 255 characters
        var random = new Random(13);
        for (int i = 0; i < 20000; i++)
        {
            var noise = new byte[random.Next(0, 600)];
            random.NextBytes(noise);
            if (noise.Length > 3) noise[2] &= 0x7f;
            DnsQuery.Parse(noise); // must not throw
            if (DnsQuery.Parse(noise) is { } parsed)
                DnsResponse.Build(noise, parsed, DnsResponse.NoError, [IPAddress.Loopback], null, 512);
        }
    }

    [Fact]
    public async Task Container_names_get_A_records_and_an_empty_AAAA_and_unknown_single_labels_NXDOMAIN()
    {
        var names = new FakeNames();
        names.Names["web"] = [IPAddress.Parse("10.1.2.3")];
        var answerer = Answerer(names);

        var a = (await answerer.AnswerAsync("c", Query("web", DnsQuery.TypeA), false, null!))!;
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(a));
        Assert.Equal(0x8580, BinaryPrimitives.ReadUInt16BigEndian(a.AsSpan(2))); // QR AA RD RA, NOERROR
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(a.AsSpan(6)));
        Assert.Equal(new byte[] { 10, 1, 2, 3 }, a[^4..]);

        var aaaa = (await answerer.AnswerAsync("c", Query("web", DnsQuery.TypeAaaa), false, null!))!;
        Assert.Equal(0, aaaa[3] & 0xf);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(aaaa.AsSpan(6)));

        var missing = (await answerer.AnswerAsync("c", Query("nothere", DnsQuery.TypeA), false, null!))!;
        Assert.Equal(DnsResponse.NxDomain, missing[3] & 0xf);

        var ptr = (await answerer.AnswerAsync("c", Query("3.2.1.10.in-addr.arpa", DnsQuery.TypePtr), false, null!))!;
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(ptr.AsSpan(6)));
        Assert.EndsWith("\u0003web\u0004net1\0", System.Text.Encoding.ASCII.GetString(ptr));

        Assert.Null(await answerer.AnswerAsync("c", [1, 2, 3], false, null!));
    }

    [Fact]
    public async Task Ipv6_reverse_names_in_nibble_form_resolve_to_the_container_and_malformed_ones_do_not()
    {
        Assert.Equal(IPAddress.Parse("fd00:1:2::a:3"),
            DnsQuery.ReverseAddress("3.0.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"));
        Assert.Null(DnsQuery.ReverseAddress("3.0.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.d.f.ip6.arpa")); // 31 nibbles
        Assert.Null(DnsQuery.ReverseAddress("3.0.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.0.d.g.ip6.arpa"));
        Assert.Null(DnsQuery.ReverseAddress("30.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"));

        var names = new FakeNames();
        names.Names["web"] = [IPAddress.Parse("10.1.2.3"), IPAddress.Parse("fd00:1:2::a:3")];
        var ptr = (await Answerer(names).AnswerAsync("c",
            Query("3.0.0.0.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", DnsQuery.TypePtr), false, null!))!;
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(ptr.AsSpan(6)));
        Assert.EndsWith("\u0003web\u0004net1\0", System.Text.Encoding.ASCII.GetString(ptr));
    }

    [Fact]
    public async Task Many_addresses_rotate_and_over_512_bytes_set_TC_unless_EDNS_or_TCP_allow_them()
    {
        var names = new FakeNames();
        names.Names["svc"] = Enumerable.Range(1, 40).Select(i => IPAddress.Parse($"10.9.0.{i}")).ToArray();
        var answerer = Answerer(names);

        var udp = (await answerer.AnswerAsync("c", Query("svc", DnsQuery.TypeA), false, null!))!;
        Assert.True(udp.Length <= 512);
        Assert.NotEqual(0, udp[2] & 0x02); // TC
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(6)));

        var edns = (await answerer.AnswerAsync("c", Query("svc", DnsQuery.TypeA, ednsSize: 4096), false, null!))!;
        Assert.Equal(0, edns[2] & 0x02);
        Assert.Equal(40, BinaryPrimitives.ReadUInt16BigEndian(edns.AsSpan(6)));

        var tcp = (await answerer.AnswerAsync("c", Query("svc", DnsQuery.TypeA), true, null!))!;
        Assert.Equal(40, BinaryPrimitives.ReadUInt16BigEndian(tcp.AsSpan(6)));

        names.Names["two"] = [IPAddress.Parse("10.9.1.1"), IPAddress.Parse("10.9.1.2")];
        var firsts = new HashSet<string>();
        for (int i = 0; i < 4; i++)
        {
            var answer = (await answerer.AnswerAsync("c", Query("two", DnsQuery.TypeA), false, null!))!;
            firsts.Add(string.Join('.', answer[^20..^16]));
        }
        Assert.Equal(2, firsts.Count);
    }
}

/// <summary>Forwarded answers cached within their TTL, counted down, never past it; broken answers not cached.</summary>
public sealed class DnsAnswerCacheTests
{
    private static byte[] Answer(ushort id, uint ttl, int rcode = 0)
    {
        var query = DnsMessageTests.Query("www.example.org", DnsQuery.TypeA, id);
        var answer = new List<byte>(query);
        answer[2] = 0x81;
        answer[3] = (byte)(0x80 | rcode);
        answer[7] = 1;
        answer.AddRange([0xc0, 0x0c, 0, 1, 0, 1, (byte)(ttl >> 24), (byte)(ttl >> 16), (byte)(ttl >> 8), (byte)ttl, 0, 4, 192, 0, 2, 9]);
        return answer.ToArray();
    }

    [Fact]
    public void A_cached_answer_comes_back_with_the_clients_id_and_a_counted_down_ttl_until_it_expires()
    {
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var cache = new DnsAnswerCache(clock: () => now);
        cache.Put("k", Answer(1, 60));
        now = now.AddSeconds(20);
        var hit = cache.Get("k", 0x4242)!;
        Assert.Equal(0x4242, BinaryPrimitives.ReadUInt16BigEndian(hit));
        Assert.Equal(40u, BinaryPrimitives.ReadUInt32BigEndian(hit.AsSpan(hit.Length - 10)));
        now = now.AddSeconds(41);
        Assert.Null(cache.Get("k", 1));
    }

    [Fact]
    public void Servfail_truncated_zero_ttl_and_malformed_answers_are_not_cached()
    {
        var cache = new DnsAnswerCache();
        cache.Put("servfail", Answer(1, 60, DnsResponse.ServFail));
        var truncated = Answer(1, 60);
        truncated[2] |= 0x02;
        cache.Put("tc", truncated);
        cache.Put("zero", Answer(1, 0));
        cache.Put("cut", Answer(1, 60)[..^3]);
        Assert.All(new[] { "servfail", "tc", "zero", "cut" }, key => Assert.Null(cache.Get(key, 1)));
    }
}
