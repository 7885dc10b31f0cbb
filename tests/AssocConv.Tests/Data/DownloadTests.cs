using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using AssocConv.Data;
using static AssocConv.Tests.TestSupport;

namespace AssocConv.Tests.Data;

/// <summary>Downloads from a local HTTP server on 127.0.0.1 serving archives built here from <c>../shared</c>
/// data.</summary>
public sealed class DownloadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-download-").FullName;
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, byte[]> _files = new();
    private readonly string _base;

    public DownloadTests()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        _base = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(_base);
        _listener.Start();
        _ = Task.Run(Serve);
    }

    /// <summary>/good/NAME serves the file, /corrupt/NAME with one byte changed, /truncated/NAME half of it then breaks
    /// the connection.</summary>
    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch { return; }
            _ = Task.Run(() => Handle(context));   // one at a time would let a stalled answer block the retry
        }
    }

    private async Task Handle(HttpListenerContext context)
    {
        var parts = context.Request.Url!.AbsolutePath.Trim('/').Split('/');
        var response = context.Response;
        if (parts.Length != 2 || !_files.TryGetValue(parts[1], out var bytes))
        {
            response.StatusCode = 404;
            response.Close();
            return;
        }
        bytes = (byte[])bytes.Clone();
        if (parts[0] != "endless") response.ContentLength64 = bytes.Length;
        try
        {
            switch (parts[0])
            {
                case "corrupt":
                    bytes[bytes.Length / 2] ^= 0xFF;
                    await response.OutputStream.WriteAsync(bytes);
                    response.Close();
                    break;
                case "truncated":
                    await response.OutputStream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
                    await response.OutputStream.FlushAsync();
                    response.Abort();
                    break;
                case "stall":   // a few bytes, then silence
                    await response.OutputStream.WriteAsync(bytes.AsMemory(0, 10));
                    await response.OutputStream.FlushAsync();
                    await Task.Delay(TimeSpan.FromSeconds(20));
                    response.Abort();
                    break;
                case "endless":   // no length announced, and no end
                    response.SendChunked = true;
                    var chunk = new byte[1 << 16];
                    while (_listener.IsListening) await response.OutputStream.WriteAsync(chunk);
                    break;
                case "redirect":   // to the same file over plain HTTP
                    response.StatusCode = 302;
                    response.RedirectLocation = $"{_base}good/{parts[1]}";
                    response.ContentLength64 = 0;
                    response.Close();
                    break;
                default:
                    await response.OutputStream.WriteAsync(bytes);
                    response.Close();
                    break;
            }
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException
            or InvalidOperationException) { }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Md5(byte[] bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));

    /// <summary>A CIFAR-10 archive like the official one: the first 300 records of each real file, under
    /// cifar-10-batches-bin/.</summary>
    private static byte[] CifarArchive(Action<TarWriter>? extra = null)
    {
        var source = SharedPath("datasets/cifar-10-batches-bin");
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "cifar-10-batches-bin/"));
            foreach (var name in new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                "data_batch_5.bin", "test_batch.bin", "batches.meta.txt" })
            {
                var bytes = File.ReadAllBytes(Path.Combine(source, name));
                if (name.EndsWith(".bin", StringComparison.Ordinal)) bytes = bytes[..(300 * 3073)];
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile,
                    $"cifar-10-batches-bin/{name}") { DataStream = new MemoryStream(bytes) });
            }
            extra?.Invoke(tar);
        }
        return memory.ToArray();
    }

    private DatasetSource Source(string mode, string file, byte[] bytes, bool archive = true)
    {
        _files[file] = bytes;
        return new DatasetSource(DatasetKind.Cifar10, "cifar-10-batches-bin",
            [new DownloadFile(new Uri($"{_base}{mode}/{file}"), Md5(bytes))], archive);
    }

    private void AssertNothingLeft(string root) =>
        Assert.Empty(Directory.Exists(root) ? Directory.GetFileSystemEntries(root) : []);

    [SharedFact("datasets/cifar-10-batches-bin")]
    public async Task A_good_download_is_checked_unpacked_and_readable()
    {
        var root = Path.Combine(_dir, "datasets");
        var reports = new List<DownloadProgress>();
        var folder = await DatasetDownloader.DownloadAsync(Source("good", "cifar-10-binary.tar.gz", CifarArchive()),
            root, new SyncProgress(reports.Add));
        Assert.Equal(Path.Combine(root, "cifar-10-batches-bin"), folder);
        Assert.Equal(new[] { "cifar-10-batches-bin" }, Directory.GetFileSystemEntries(root).Select(Path.GetFileName));
        Assert.NotEmpty(reports);
        Assert.Equal(reports[^1].Total, reports[^1].Bytes);
        var (train, test) = CifarReader.ReadCifar10(folder);
        using (train) using (test)
        {
            Assert.Equal(1500, train.Count);
            Assert.Equal(300, test.Count);
        }
        // a bare name finds it through $ASSOCCONV_DATA
        var old = Environment.GetEnvironmentVariable("ASSOCCONV_DATA");
        try
        {
            Environment.SetEnvironmentVariable("ASSOCCONV_DATA", root);
            using var data = Dataset.Load(DatasetSpec.Parse("cifar10"));
            Assert.Equal(folder, data.Source);
        }
        finally { Environment.SetEnvironmentVariable("ASSOCCONV_DATA", old); }
    }

    [SharedFact("datasets/cifar-10-batches-bin")]
    public async Task Corrupted_and_truncated_downloads_leave_nothing()
    {
        var archive = CifarArchive();
        var root = Path.Combine(_dir, "datasets");
        var corrupt = await Assert.ThrowsAsync<InvalidDataException>(() =>
            DatasetDownloader.DownloadAsync(Source("corrupt", "cifar-10-binary.tar.gz", archive), root));
        Assert.Contains("does not match the published", corrupt.Message);
        AssertNothingLeft(root);

        var truncated = await Assert.ThrowsAsync<HttpRequestException>(() =>
            DatasetDownloader.DownloadAsync(Source("truncated", "cifar-10-binary.tar.gz", archive), root,
                policy: Quick));
        Assert.True(truncated.Message.Contains("broke off") || truncated.Message.Contains("truncated"),
            truncated.Message);
        Assert.Contains("(2 attempts)", truncated.Message);
        AssertNothingLeft(root);

        await Assert.ThrowsAsync<HttpRequestException>(() => DatasetDownloader.DownloadAsync(
            new DatasetSource(DatasetKind.Cifar10, "cifar-10-batches-bin",
                [new DownloadFile(new Uri($"{_base}good/missing.tar.gz"), "0")], true), root));
        AssertNothingLeft(root);
    }

    [SharedFact("datasets/cifar-10-batches-bin")]
    public async Task An_archive_entry_outside_the_folder_or_a_link_is_refused()
    {
        var root = Path.Combine(_dir, "datasets");
        var escaping = CifarArchive(tar => tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile,
            "cifar-10-batches-bin/../../evil.txt")
            { DataStream = new MemoryStream([1, 2, 3]) }));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            DatasetDownloader.DownloadAsync(Source("good", "escaping.tar.gz", escaping), root));
        Assert.Contains("outside the dataset folder", e.Message);
        AssertNothingLeft(root);
        Assert.False(File.Exists(Path.Combine(_dir, "evil.txt")));

        var linked = CifarArchive(tar => tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink,
            "cifar-10-batches-bin/link") { LinkName = "/etc/passwd" }));
        e = await Assert.ThrowsAsync<InvalidDataException>(() => DatasetDownloader.DownloadAsync(Source("good",
            "linked.tar.gz", linked), root));
        Assert.Contains("SymbolicLink", e.Message);
        AssertNothingLeft(root);
    }

    [SystemFact("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist")]
    public async Task Idx_files_are_kept_as_served_and_the_cli_reports_a_checksum_mismatch()
    {
        const string debian = "/usr/share/datasets/fashion-mnist";
        var files = new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz" };
        foreach (var f in files) _files[f] = File.ReadAllBytes(Path.Combine(debian, f));
        var source = new DatasetSource(DatasetKind.FashionMnist, "fashion-mnist",
            files.Select(f => new DownloadFile(new Uri($"{_base}good/{f}"), Md5(_files[f]))).ToList(), Archive: false);
        var root = Path.Combine(_dir, "datasets");
        var folder = await DatasetDownloader.DownloadAsync(source, root);
        using (var data = Dataset.Load(DatasetSpec.Parse("fashion-mnist:" + folder))) Assert.Equal(60_000,
            data.Train.Count);

        // Debian recompressed its files, so they do not carry the official checksums: the CLI must refuse them
        var output = new StringWriter();
        var error = new StringWriter();
        var other = Path.Combine(_dir, "other");
        int code = AssocConv.Cli.CliApp.Run(["data", "download", "fashion-mnist", "--to", other, "--mirror",
            $"{_base}good/"], output, error);
        Assert.Equal(1, code);
        Assert.Contains("the published size is 26,421,880", error.ToString());
        AssertNothingLeft(other);
    }

    private static readonly DownloadPolicy Quick = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1), Attempts: 2);

    [Fact]
    public async Task A_stalled_endless_or_redirected_download_stops_and_leaves_nothing()
    {
        var root = Path.Combine(_dir, "datasets");
        var bytes = new byte[100_000];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var stalled =
            await Assert.ThrowsAsync<HttpRequestException>(() =>
            DatasetDownloader.DownloadAsync(Source("stall", "a.tar.gz", bytes), root, policy: Quick));
        Assert.Contains("no data for 1 s after 10 bytes (2 attempts)", stalled.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        AssertNothingLeft(root);

        // the published size caps what is written, whatever the server sends
        _files["b.tar.gz"] = bytes;
        var capped = new DatasetSource(DatasetKind.Cifar10, "cifar-10-batches-bin",
            [new DownloadFile(new Uri($"{_base}endless/b.tar.gz"), Md5(bytes), bytes.Length)], true);
        var endless =
            await Assert.ThrowsAsync<InvalidDataException>(() =>
            DatasetDownloader.DownloadAsync(capped, root, policy: Quick));
        Assert.Contains("more than the 100,000 bytes published", endless.Message);
        AssertNothingLeft(root);

        var redirected =
            await Assert.ThrowsAsync<HttpRequestException>(() =>
            DatasetDownloader.DownloadAsync(Source("redirect", "c.tar.gz", bytes), root, policy: Quick));
        Assert.Contains("which is not HTTPS; refused", redirected.Message);
        AssertNothingLeft(root);
    }

    [Fact]
    public async Task What_a_killed_download_left_is_removed_by_the_next()
    {
        var root = Path.Combine(_dir, "datasets");
        int dead;
        using (var gone = System.Diagnostics.Process.Start("true")!) { gone.WaitForExit(); dead = gone.Id; }
        var abandoned = Directory.CreateDirectory(Path.Combine(root,
            $".cifar-10-batches-bin.partial-{dead}-0123")).FullName;
        var running = Directory.CreateDirectory(Path.Combine(root,
            $".cifar-10-batches-bin.partial-{Environment.ProcessId}-4567")).FullName;
        await Assert.ThrowsAsync<HttpRequestException>(() => DatasetDownloader.DownloadAsync(
            new DatasetSource(DatasetKind.Cifar10, "cifar-10-batches-bin",
                [new DownloadFile(new Uri($"{_base}good/missing.tar.gz"), "0")], true), root));
        Assert.False(Directory.Exists(abandoned));
        Assert.True(Directory.Exists(running));   // a download still going on is left alone
    }

    [Fact]
    public void Offline_the_cli_says_where_to_put_the_files_instead()
    {
        var root = Path.Combine(_dir, "offline");
        // nothing listens on port 1: the connection is refused at once, tried three times
        var (code, _, stderr) = RunCli("data", "download", "cifar10", "--to", root, "--mirror", "http://127.0.0.1:1/");
        Assert.Equal(1, code);
        Assert.Contains("(3 attempts)", stderr);
        Assert.Contains("without a connection, copy the official files (cifar-10-binary.tar.gz)", stderr);
        Assert.Contains($"into {Path.Combine(root, "cifar-10-batches-bin")}, or into any folder DIR and pass " +
            "--data cifar10:DIR", stderr);
        AssertNothingLeft(root);
    }

    [Fact]
    public void Every_official_source_is_https_with_a_published_size()
    {
        foreach (var kind in new[] { DatasetKind.Cifar10, DatasetKind.Cifar100, DatasetKind.FashionMnist,
            DatasetKind.Mnist })
            Assert.All(DatasetSource.Official(kind).Files, f =>
            {
                Assert.Equal("https", f.Url.Scheme);
                Assert.True(f.Bytes > 0);
            });
    }

    private sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
