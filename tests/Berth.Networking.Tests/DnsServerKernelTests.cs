using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Berth.Networking.Dns;
using Berth.Networking.Namespaces;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The resolver's sockets in real namespaces the tests made: 127.0.0.11:53 over UDP and TCP (several
/// queries on one connection), garbage and floods dropped without harm to other containers, an unreachable upstream
/// answered SERVFAIL, a dead one skipped after its first failure.</summary>
public sealed class DnsServerKernelTests
{
    /// <summary>"web" is 10.1.2.3; the rest goes to the given upstreams, by default an address with no route in a
    /// fresh namespace, so forwarding fails at once.</summary>
    private sealed class Names(params string[] upstreams) : IDnsNames
    {
        public IReadOnlyList<IPAddress>? Lookup(string clientId, string name) =>
            name == "web" ? [IPAddress.Parse("10.1.2.3")] : null;
        public string? ReverseLookup(string clientId, IPAddress address) => null;
        public IReadOnlyList<IPAddress> DnsServers(string clientId) =>
            (upstreams.Length > 0 ? upstreams : ["10.254.254.254"]).Select(IPAddress.Parse).ToList();
    }

    [Fact]
    public async Task Answers_over_udp_and_tcp_inside_the_namespace_and_survives_garbage()
    {
        string name = TestNames.Unique("bnd"), path = $"/run/netns/{name}";
        var server = new DnsServer(new Names());
        try
        {
            NetworkNamespace.Create(path);
            string id = new string('a', 64);
            server.Open(id, path);
            server.Open(id, path); // idempotent
            var (udp, tcp) = NetworkNamespace.Run(path, () =>
            {
                var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                u.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                t.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                return (u, t);
            });
            using (udp)
            using (tcp)
            {
                udp.ReceiveTimeout = 5000;
                var buffer = new byte[4096];
                udp.Send([0xff, 0xff, 0, 0, 0, 9]);                       // garbage: dropped
                udp.Send(new byte[5000]);                                    // oversized zeros: dropped
                udp.Send(DnsMessageTests.Query("web", DnsQuery.TypeA, id: 7));
                int n = udp.Receive(buffer);
                Assert.Equal(7, BinaryPrimitives.ReadUInt16BigEndian(buffer));
                Assert.Equal(new byte[] { 10, 1, 2, 3 }, buffer[(n - 4)..n]);

                udp.Send(DnsMessageTests.Query("elsewhere.example", DnsQuery.TypeA, id: 8));
                n = udp.Receive(buffer);
                Assert.Equal(8, BinaryPrimitives.ReadUInt16BigEndian(buffer));
                Assert.Equal(DnsResponse.ServFail, buffer[3] & 0xf);

                // RFC 7766: two queries on one connection, each framed by a two-byte length.
                using var stream = new NetworkStream(tcp);
                stream.ReadTimeout = 5000;
                for (ushort q = 1; q <= 2; q++)
                {
                    var answer = AskOverTcp(stream, DnsMessageTests.Query(q == 1 ? "web" : "nothere", DnsQuery.TypeA, id: q));
                    Assert.Equal(q, BinaryPrimitives.ReadUInt16BigEndian(answer));
                    Assert.Equal(q == 1 ? DnsResponse.NoError : DnsResponse.NxDomain, answer[3] & 0xf);
                }
            }
            server.Close(id);
            var refused = NetworkNamespace.Run(path, () =>
            {
                using var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try { t.Connect(new IPEndPoint(ContainerDnsListener.Address, 53)); return false; }
                catch (SocketException) { return true; }
            });
            Assert.True(refused, "the listener stays open after Close");
        }
        finally
        {
            server.Dispose();
            NetworkNamespace.Remove(path);
        }
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_truncated_upstream_answer_is_fetched_again_over_tcp_for_a_tcp_client()
    {
        string name = TestNames.Unique("bnd"), path = $"/run/netns/{name}";
        string upstream = $"10.253.{Random.Shared.Next(1, 250)}.1";
        var server = new DnsServer(new Names(upstream));
        Socket? fakeUdp = null, fakeTcp = null;
        try
        {
            NetworkNamespace.Create(path);
            Assert.Equal(0, Sh.Run("ip", ["-n", name, "addr", "add", upstream + "/32", "dev", "lo"]).ExitCode);
            (fakeUdp, fakeTcp) = NetworkNamespace.Run(path, () =>
            {
                var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                u.Bind(new IPEndPoint(IPAddress.Parse(upstream), 53));
                var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                t.Bind(new IPEndPoint(IPAddress.Parse(upstream), 53));
                t.Listen(4);
                return (u, t);
            });
            var fakeUpstream = Task.Run(async () =>
            {
                // UDP: only the header and question with TC set; TCP: 60 A records.
                var buffer = new byte[512];
                var from = await fakeUdp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0));
                var query = DnsQuery.Parse(buffer.AsSpan(0, from.ReceivedBytes))!;
                var cut = buffer[..query.QuestionEnd];
                cut[2] = 0x83;
                cut[3] = 0x80;
                await fakeUdp.SendToAsync(cut, from.RemoteEndPoint);
                using var connection = await fakeTcp.AcceptAsync();
                using var stream = new NetworkStream(connection);
                var prefix = new byte[2];
                await stream.ReadExactlyAsync(prefix);
                var packet = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                await stream.ReadExactlyAsync(packet);
                var parsed = DnsQuery.Parse(packet)!;
                var whole = DnsResponse.Build(packet, parsed, DnsResponse.NoError,
                    Enumerable.Range(1, 60).Select(i => IPAddress.Parse($"192.0.2.{i}")).ToList(), null, 65535);
                var framed = new byte[whole.Length + 2];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)whole.Length);
                whole.CopyTo(framed, 2);
                await stream.WriteAsync(framed);
            });

            string id = new string('b', 64);
            server.Open(id, path);
            using var client = NetworkNamespace.Run(path, () =>
            {
                var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                t.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                return t;
            });
            using var clientStream = new NetworkStream(client);
            clientStream.ReadTimeout = 10000;
            var answer = AskOverTcp(clientStream, DnsMessageTests.Query("big.example", DnsQuery.TypeA, id: 99));
            Assert.Equal(99, BinaryPrimitives.ReadUInt16BigEndian(answer));
            Assert.Equal(0, answer[2] & 0x02);
            Assert.Equal(60, BinaryPrimitives.ReadUInt16BigEndian(answer.AsSpan(6)));
            await fakeUpstream.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            fakeUdp?.Dispose();
            fakeTcp?.Dispose();
            server.Dispose();
            NetworkNamespace.Remove(path);
        }
    }

    [Fact]
    public void A_failed_upstream_is_skipped_for_a_while_instead_of_costing_every_query_its_timeout()
    {
        string name = TestNames.Unique("bnd"), path = $"/run/netns/{name}";
        string prefix = $"10.252.{Random.Shared.Next(1, 250)}";
        string dead = prefix + ".1", live = prefix + ".2";
        var server = new DnsServer(new Names(dead, live), forwarder: new DnsForwarder(TimeSpan.FromMilliseconds(300), TimeSpan.FromMinutes(10)));
        Socket? deadSocket = null, liveSocket = null, client = null;
        try
        {
            NetworkNamespace.Create(path);
            foreach (string address in new[] { dead, live })
                Assert.Equal(0, Sh.Run("ip", ["-n", name, "addr", "add", address + "/32", "dev", "lo"]).ExitCode);
            (deadSocket, liveSocket, client) = NetworkNamespace.Run(path, () =>
            {
                var d = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                d.Bind(new IPEndPoint(IPAddress.Parse(dead), 53)); // takes queries, never answers
                var l = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                l.Bind(new IPEndPoint(IPAddress.Parse(live), 53));
                var c = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                c.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
                return (d, l, c);
            });
            using var upstream = new CancellationTokenSource();
            var answering = AnswerEveryQuery(liveSocket, upstream.Token);
            server.Open(new string('c', 64), path);
            client.ReceiveTimeout = 10000;
            var buffer = new byte[4096];
            for (ushort q = 1; q <= 3; q++)
            {
                client.Send(DnsMessageTests.Query($"name{q}.example", DnsQuery.TypeA, id: q));
                int n = client.Receive(buffer);
                Assert.Equal(q, BinaryPrimitives.ReadUInt16BigEndian(buffer));
                Assert.Equal(DnsResponse.NoError, buffer[3] & 0xf);
                Assert.Equal(new byte[] { 192, 0, 2, 55 }, buffer[(n - 4)..n]);
            }
            // The first query waited on the dead server once; the two after it went straight to the live one.
            Assert.Equal(1, PacketsWaiting(deadSocket));
            upstream.Cancel();
        }
        finally
        {
            client?.Dispose();
            deadSocket?.Dispose();
            liveSocket?.Dispose();
            server.Dispose();
            NetworkNamespace.Remove(path);
        }
    }

    [Fact]
    public void A_flood_of_garbage_and_stuck_queries_in_one_container_leaves_another_answered()
    {
        string flooded = TestNames.Unique("bnf"), other = TestNames.Unique("bno");
        string floodedPath = $"/run/netns/{flooded}", otherPath = $"/run/netns/{other}";
        // Forwarded names go to an upstream that takes them and never answers: each waits out its timeout.
        string silent = $"10.251.{Random.Shared.Next(1, 250)}.1";
        var server = new DnsServer(new Names(silent));
        Socket? silentSocket = null;
        try
        {
            NetworkNamespace.Create(floodedPath);
            NetworkNamespace.Create(otherPath);
            Assert.Equal(0, Sh.Run("ip", ["-n", flooded, "addr", "add", silent + "/32", "dev", "lo"]).ExitCode);
            silentSocket = NetworkNamespace.Run(floodedPath, () =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                socket.Bind(new IPEndPoint(IPAddress.Parse(silent), 53));
                return socket;
            });
            server.Open(new string('d', 64), floodedPath);
            server.Open(new string('e', 64), otherPath);
            using var flooder = Connect(floodedPath);
            using var victim = Connect(otherPath);
            var random = new Random(7);
            for (int i = 0; i < 20000; i++)
            {
                var noise = new byte[random.Next(0, 700)];
                random.NextBytes(noise);
                flooder.Send(noise);
                flooder.Send(DnsMessageTests.Query($"stuck{i}.example", DnsQuery.TypeA, id: (ushort)i));
                if (i % 1000 == 0) flooder.Send(new byte[60000]);
            }
            var buffer = new byte[4096];
            int n = AskAsAResolverWould(victim, "web", 4242, buffer);
            Assert.Equal(new byte[] { 10, 1, 2, 3 }, buffer[(n - 4)..n]);

            // The flooded container itself still gets its names while its forwarded queries wait upstream: its
            // answer comes among their SERVFAILs.
            n = AskAsAResolverWould(flooder, "web", 60000, buffer);
            Assert.Equal(new byte[] { 10, 1, 2, 3 }, buffer[(n - 4)..n]);
        }
        finally
        {
            silentSocket?.Dispose();
            server.Dispose();
            NetworkNamespace.Remove(floodedPath);
            NetworkNamespace.Remove(otherPath);
        }
    }

    /// <summary>Asks over UDP and, as a stub resolver does, asks again when no answer came within 2 s: under a flood a
    /// datagram may be dropped (the asking socket's own buffer fills with the SERVFAILs it has not read yet).
    /// Other answers are read and skipped. Returns the answer's length in <paramref name="buffer"/>.</summary>
    private static int AskAsAResolverWould(Socket socket, string name, ushort id, byte[] buffer)
    {
        socket.ReceiveTimeout = 2000;
        for (int attempt = 0; attempt < 15; attempt++)
        {
            socket.Send(DnsMessageTests.Query(name, DnsQuery.TypeA, id: id));
            try
            {
                while (true)
                {
                    int n = socket.Receive(buffer);
                    if (BinaryPrimitives.ReadUInt16BigEndian(buffer) == id) return n;
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut) { }
        }
        throw new TimeoutException($"no answer for {name} (id {id}) in 15 tries");
    }

    private static Socket Connect(string netnsPath) => NetworkNamespace.Run(netnsPath, () =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(new IPEndPoint(ContainerDnsListener.Address, 53));
        return socket;
    });

    /// <summary>A fake upstream: every query answered with one A record, 192.0.2.55.</summary>
    private static async Task AnswerEveryQuery(Socket socket, CancellationToken ct)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var from = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), ct);
                if (DnsQuery.Parse(buffer.AsSpan(0, from.ReceivedBytes)) is not { } query) continue;
                var answer = DnsResponse.Build(buffer.AsSpan(0, from.ReceivedBytes), query, DnsResponse.NoError,
                    [IPAddress.Parse("192.0.2.55")], null, 512);
                await socket.SendToAsync(answer, SocketFlags.None, from.RemoteEndPoint, ct);
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>How many datagrams wait on a socket nobody reads.</summary>
    private static int PacketsWaiting(Socket socket)
    {
        socket.Blocking = false;
        var buffer = new byte[4096];
        int count = 0;
        while (true)
        {
            try { socket.Receive(buffer); count++; }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock) { return count; }
        }
    }

    /// <summary>One query over a DNS TCP connection (RFC 1035 4.2.2: each message behind a two-byte length).</summary>
    private static byte[] AskOverTcp(NetworkStream stream, byte[] query)
    {
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed, 2);
        stream.Write(framed);
        var prefix = new byte[2];
        stream.ReadExactly(prefix);
        var answer = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        stream.ReadExactly(answer);
        return answer;
    }
}
