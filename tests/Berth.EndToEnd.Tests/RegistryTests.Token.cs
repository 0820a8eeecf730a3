using System.Diagnostics;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>Bearer-token auth end to end: docker-registry with `auth: token` in front of a token server the test runs
/// (py/token_server.py, RS256 tokens signed with a key made here).</summary>
public sealed partial class RegistryTests
{
    [Fact]
    public async Task Token_auth_logs_in_pushes_and_pulls_with_scoped_tokens_reused_while_valid()
    {
        string dir = Path.Combine("/tmp", TestNames.Unique("berth-tok-", 22));
        Directory.CreateDirectory(dir);
        Process? server = null;
        try
        {
            var made = Sh.Bash($"cd {dir} && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-token " +
                               "-keyout token.key -out token.crt 2>/dev/null");
            Assert.True(made.ExitCode == 0, made.Stderr);
            string log = Path.Combine(dir, "grants.log"), portFile = Path.Combine(dir, "port");
            var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "py", "token_server.py"), portFile,
                         Path.Combine(dir, "token.key"), Path.Combine(dir, "token.crt"), "berth-registry", "berth-issuer",
                         "tok-user", "tok-pw", log })
                info.ArgumentList.Add(arg);
            server = Process.Start(info)!;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (!File.Exists(portFile) && !server.HasExited && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.True(File.Exists(portFile), "the token server did not start: " + (server.HasExited ? await server.StandardError.ReadToEndAsync() : ""));
            string realm = $"http://127.0.0.1:{File.ReadAllText(portFile).Trim()}/token";

            await using var registry = await RegistryProcess.StartAsync(
                tokenAuth: (realm, "berth-registry", "berth-issuer", Path.Combine(dir, "token.crt")));
            string name = $"{registry.Host}/{TestNames.Unique("tok", 10)}:v1";
            string repo = name[(registry.Host.Length + 1)..^3];
            fixture.CommitUnique(name);
            var anonymous = Docker("push", name);
            Assert.NotEqual(0, anonymous.ExitCode);

            Assert.NotEqual(0, Docker("login", "-u", "tok-user", "-p", "wrong", registry.Host).ExitCode);
            Assert.Contains("Login Succeeded", Ok(Docker("login", "-u", "tok-user", "-p", "tok-pw", registry.Host)).Stdout);
            Ok(Docker("push", name));
            Assert.Contains($"repository:{repo}:pull,push", File.ReadAllText(log));
            Ok(Docker("rmi", name));

            Assert.Contains("Pull complete", Ok(Docker("pull", name)).Stdout);
            int grants = File.ReadAllLines(log).Length;
            Assert.Contains($"repository:{repo}:pull", File.ReadAllLines(log).Last());
            Ok(Docker("rmi", name));
            // A second pull within the token's life asks the token server for nothing.
            Assert.Contains("Pull complete", Ok(Docker("pull", name)).Stdout);
            Assert.Equal(grants, File.ReadAllLines(log).Length);
            Assert.Contains("root:x:0:", Ok(Docker("run", "--rm", name, "cat", "/etc/group")).Stdout);

            Ok(Docker("logout", registry.Host));
            Ok(Docker("rmi", name));
            Assert.NotEqual(0, Docker("pull", name).ExitCode);
        }
        finally
        {
            if (server is { HasExited: false })
            {
                server.Kill();
                await server.WaitForExitAsync();
            }
            server?.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }
}
