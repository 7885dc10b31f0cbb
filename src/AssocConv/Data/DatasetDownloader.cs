using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace AssocConv.Data;

/// <summary>One file of a dataset's official distribution.</summary>
/// <param name="Url">Where it is served.</param>
/// <param name="Md5">Its published MD5, lower-case hex.</param>
/// <param name="Bytes">Its published size, when known: a server may send no more, and no less.</param>
public sealed record DownloadFile(Uri Url, string Md5, long? Bytes = null)
{
    /// <summary>The file's name (the last segment of the address).</summary>
    public string FileName => Path.GetFileName(Url.LocalPath);
}

/// <summary>Where a dataset comes from and the folder it becomes.</summary>
/// <param name="Kind">Which dataset.</param>
/// <param name="FolderName">The folder it is stored in under the datasets root (what a bare <c>--data</c> name
/// finds).</param>
/// <param name="Files">The files to fetch.</param>
/// <param name="Archive">True when the one file is a <c>.tar.gz</c> to unpack (its top folder is dropped); false when
/// the files are kept as they are.</param>
public sealed record DatasetSource(DatasetKind Kind, string FolderName, IReadOnlyList<DownloadFile> Files, bool Archive)
{
    /// <summary>The official distribution of <paramref name="kind"/>, with its published checksums.</summary>
    public static DatasetSource Official(DatasetKind kind)
    {
        static DownloadFile F(string url, string md5, long bytes) => new(new Uri(url), md5, bytes);
        static DownloadFile[] Idx(string baseUrl, string[] md5, long[] bytes) =>
            new[] { "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz" }
                .Select((n, i) => F(baseUrl + n, md5[i], bytes[i])).ToArray();
        return kind switch
        {
            DatasetKind.Cifar10 => new(kind, "cifar-10-batches-bin",
                [F("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
            170_052_171)], true), DatasetKind.Cifar100 => new(kind, "cifar-100-binary",
                [F("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8",
                    168_513_733)], true),
            // the project's own repository: its S3 website address serves plain HTTP only
            DatasetKind.FashionMnist => new(kind, "fashion-mnist",
                Idx("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                ["8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"],
                [26_421_880, 29_515, 4_422_102, 5_148]), false),
            DatasetKind.Mnist => new(kind, "mnist", Idx("https://ossci-datasets.s3.amazonaws.com/mnist/",
                ["f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"],
                [9_912_422, 28_881, 1_648_877, 4_542]), false),
            _ => throw new ArgumentException($"{kind} has no official download"),
        };
    }

    /// <summary>The same files fetched from <paramref name="mirror"/> (a base address; the file names are
    /// appended).</summary>
    public DatasetSource At(Uri mirror)
    {
        var root = mirror.AbsoluteUri.EndsWith('/') ? mirror : new Uri(mirror.AbsoluteUri + "/");
        return this with { Files = Files.Select(f => f with { Url = new Uri(root, f.FileName) }).ToList() };
    }
}

/// <summary>How long a download may wait, and how often it tries.</summary>
/// <param name="Connect">To open a connection.</param>
/// <param name="Stall">Without receiving a byte (headers or body) before the attempt is given up.</param>
/// <param name="Attempts">Tries per file when the connection fails, stalls or breaks off.</param>
public sealed record DownloadPolicy(TimeSpan Connect, TimeSpan Stall, int Attempts)
{
    /// <summary>30 s to connect, 60 s without data, 3 attempts.</summary>
    public static DownloadPolicy Default { get; } = new(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60), 3);
}

/// <summary>What a download is doing, for a progress display.</summary>
/// <param name="File">The file being fetched.</param>
/// <param name="Bytes">Bytes received so far.</param>
/// <param name="Total">Bytes expected, when the server says.</param>
public readonly record struct DownloadProgress(string File, long Bytes, long? Total);

/// <summary>
/// Fetches a dataset's official files, checks each against its published size and MD5, unpacks archives safely
/// (no entry may land outside the target, no links, no devices), and moves the finished folder into place
/// in one rename: a failed or interrupted download leaves nothing behind, and what a killed one left is removed
/// by the next. Redirects are followed to HTTPS addresses only; a stalled or broken connection is retried.
/// </summary>
public static class DatasetDownloader
{
    private const int MaxRedirects = 5;

    /// <summary>Downloads <paramref name="source"/> into <c>root/FolderName</c> and returns that folder.</summary>
    /// <exception cref="InvalidDataException">A checksum or size does not match, or the archive is unsafe or
    /// damaged.</exception>
    /// <exception cref="HttpRequestException">The server refused, could not be reached, stalled, or redirected to plain
    /// HTTP.</exception>
    public static async Task<string> DownloadAsync(DatasetSource source, string root,
        IProgress<DownloadProgress>? progress = null,
        HttpClient? http = null, CancellationToken cancel = default, DownloadPolicy? policy = null)
    {
        policy ??= DownloadPolicy.Default;
        var target = Path.Combine(root, source.FolderName);
        if (Directory.Exists(target)) return target;
        Directory.CreateDirectory(root);
        RemoveAbandoned(root, source.FolderName);
        var staging = Path.Combine(root, $".{source.FolderName}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        var ownClient = http is null;
        http ??= new HttpClient(new SocketsHttpHandler { ConnectTimeout = policy.Connect, AllowAutoRedirect = false })
        {
            Timeout = Timeout.InfiniteTimeSpan,   // the stall timeout bounds each wait instead
        };
        try
        {
            var contents = Path.Combine(staging, "contents");
            Directory.CreateDirectory(contents);
            foreach (var file in source.Files)
            {
                var local = Path.Combine(source.Archive ? staging : contents, file.FileName);
                for (int attempt = 1; ; attempt++)
                {
                    try
                    {
                        await FetchAsync(http, file, local, progress, policy, cancel).ConfigureAwait(false);
                        break;
                    }
                    catch (TransientDownloadException e) when (attempt < policy.Attempts)
                    {
                        _ = e;
                        await Task.Delay(TimeSpan.FromSeconds(attempt), cancel).ConfigureAwait(false);
                    }
                    catch (TransientDownloadException e)
                    {
                        throw new HttpRequestException($"{e.Message} ({policy.Attempts} attempts)", e);
                    }
                }
                if (source.Archive) ExtractTarGz(local, contents);
            }
            Directory.Move(contents, target);
            return target;
        }
        finally
        {
            if (ownClient) http.Dispose();
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    // staging folders of downloads whose process is gone (killed before its cleanup ran)
    private static void RemoveAbandoned(string root, string folderName)
    {
        foreach (var dir in Directory.EnumerateDirectories(root, $".{folderName}.partial-*"))
        {
            var rest = Path.GetFileName(dir)[$".{folderName}.partial-".Length..];
            if (!int.TryParse(rest.Split('-')[0], out int pid) || AssocConv.IO.LiveProcess.IsRunning(pid)) continue;
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }   // another process removing it too
        }
    }

    private sealed class TransientDownloadException(string message,
        Exception? inner = null) : Exception(message, inner);

    private static async Task FetchAsync(HttpClient http, DownloadFile file, string path,
        IProgress<DownloadProgress>? progress, DownloadPolicy policy, CancellationToken cancel)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        stall.CancelAfter(policy.Stall);
        var url = file.Url;
        HttpResponseMessage response;
        try
        {
            for (int redirects = 0; ; redirects++)
            {
                response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead,
                    stall.Token).ConfigureAwait(false);
                if ((int)response.StatusCode is < 300 or >= 400 || response.Headers.Location is not { } location) break;
                response.Dispose();
                var next = location.IsAbsoluteUri ? location : new Uri(url, location);
                if (next.Scheme != Uri.UriSchemeHttps)
                    throw new HttpRequestException($"{file.Url}: redirected to {next}, which is not HTTPS; refused");
                if (redirects >= MaxRedirects) throw new HttpRequestException($"{file.Url}: more than " +
                    $"{MaxRedirects} redirects");
                url = next;
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new TransientDownloadException($"{file.Url}: no answer within {policy.Stall.TotalSeconds:0} s");
        }
        catch (HttpRequestException e) when (e.InnerException is System.Net.Sockets.SocketException or IOException)
        {
            throw new TransientDownloadException($"{file.Url}: {e.Message}", e);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
                throw new HttpRequestException($"{file.Url}: the server answered {(int)response.StatusCode} " +
                    $"{response.ReasonPhrase}");
            long? announced = response.Content.Headers.ContentLength;
            if (file.Bytes is { } published && announced is { } a && a != published)
                throw new InvalidDataException($"{file.Url}: the server announces {a:N0} bytes, the published size " +
                    $"is {published:N0}");
            long? total = file.Bytes ?? announced;
            using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
            long received = 0;
            await using (var input = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false))
            await using (var output = File.Create(path))
            {
                var buffer = new byte[1 << 16];
                try
                {
                    while (true)
                    {
                        stall.CancelAfter(policy.Stall);
                        int n = await input.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                        if (n == 0) break;
                        received += n;
                        if (total is { } cap && received > cap)
                            throw new InvalidDataException($"{file.Url}: the server sent more than the {cap:N0} " +
                                $"bytes {(file.Bytes is null ? "it announced" : "published")}; stopped");
                        await output.WriteAsync(buffer.AsMemory(0, n), cancel).ConfigureAwait(false);
                        md5.AppendData(buffer, 0, n);
                        progress?.Report(new DownloadProgress(file.FileName, received, total));
                    }
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    throw new TransientDownloadException($"{file.Url}: no data for {policy.Stall.TotalSeconds:0} s " +
                        $"after {received:N0} bytes");
                }
                catch (IOException e)
                {
                    throw new TransientDownloadException($"{file.Url}: the download broke off after {received:N0} " +
                        $"bytes ({e.Message})", e);
                }
            }
            if (total is { } expected && received != expected)
                throw new TransientDownloadException($"{file.Url}: truncated download, {received:N0} of " +
                    $"{expected:N0} bytes");
            var actual = Convert.ToHexStringLower(md5.GetHashAndReset());
            if (actual != file.Md5)
                throw new InvalidDataException($"{file.Url}: MD5 {actual} does not match the published {file.Md5}; " +
                    "the download is corrupted (nothing was kept)");
        }
    }

    /// <summary>Unpacks regular files and folders of a <c>.tar.gz</c> into <paramref name="destination"/>, dropping the
    /// archive's top folder.</summary>
    /// <exception cref="InvalidDataException">An entry is a link or device, or its path would leave the
    /// destination.</exception>
    internal static void ExtractTarGz(string archive, string destination)
    {
        var root = Path.GetFullPath(destination) + Path.DirectorySeparatorChar;
        try
        {
            using var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                var name = entry.Name.Replace('\\', '/');
                if (Path.IsPathRooted(name) || name.Split('/').Contains(".."))
                    throw new InvalidDataException($"{archive}: entry '{entry.Name}' would be written outside " +
                        "the dataset folder");
                var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length <= 1) continue;   // the top folder itself, or a stray top-level file
                var path = Path.GetFullPath(Path.Combine(root, Path.Combine(parts[1..])));
                if (!path.StartsWith(root, StringComparison.Ordinal))
                    throw new InvalidDataException($"{archive}: entry '{entry.Name}' would be written outside " +
                        "the dataset folder");
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(path);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                        entry.ExtractToFile(path, overwrite: false);
                        break;
                    default:
                        throw new InvalidDataException($"{archive}: entry '{entry.Name}' is a {entry.EntryType}; " +
                            "only files and folders are unpacked");
                }
            }
        }
        catch (Exception e) when (e is FormatException or EndOfStreamException)
        {
            throw new InvalidDataException($"{archive}: damaged archive ({e.Message})", e);
        }
    }
}
