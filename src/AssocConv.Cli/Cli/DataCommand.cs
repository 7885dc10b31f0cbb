using System.CommandLine;
using AssocConv.Data;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary><c>assocconv data download NAME</c>: fetches a dataset's official files, checks and unpacks them.</summary>
internal static class DataCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var name = new Argument<string>("NAME") { Description = "cifar10, cifar100, fashion-mnist or mnist" };
        var to = new Option<string?>("--to") { Description = $"Datasets folder (default: $ASSOCCONV_DATA, else " +
            $"{DatasetSpec.DefaultCacheRoot})" };
        var mirror = new Option<string?>("--mirror") { Description = "Fetch the same files from this base address " +
            "instead of the official one" };
        var download = new Command("download",
            "Fetch a dataset's official archive, verify its published MD5 and unpack it safely");
        download.Arguments.Add(name);
        download.Options.Add(to);
        download.Options.Add(mirror);
        download.SetAction(result =>
        {
            CommonOptions.ApplyRuntime(result);
            var term = terminal(false);
            DatasetSpec spec;
            try { spec = DatasetSpec.Parse(result.GetValue(name)!); }
            catch (FormatException e) { throw new UsageException(e.Message); }
            if (spec.Folder is not null || spec.Kind is DatasetKind.Folder or DatasetKind.Sample)
                throw new UsageException($"'{result.GetValue(name)}' cannot be downloaded; use cifar10, cifar100, " +
                    "fashion-mnist or mnist");
            var source = DatasetSource.Official(spec.Kind);
            if (result.GetValue(mirror) is { } m)
            {
                if (!Uri.TryCreate(m, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    throw new UsageException($"--mirror '{m}' is not an http or https address");
                source = source.At(uri);
            }
            var root = result.GetValue(to)
                ?? (Environment.GetEnvironmentVariable("ASSOCCONV_DATA") is { Length: > 0 } env ? env
                : DatasetSpec.DefaultCacheRoot);
            var target = Path.Combine(root, source.FolderName);
            if (Directory.Exists(target))
            {
                term.Results.WriteLine($"{spec.Name} is already in {target}");
                return ExitCodes.Success;
            }
            string folder;
            try
            {
                folder = WithProgress(term, (p, ct) => DatasetDownloader.DownloadAsync(source, root, p, cancel: ct));
            }
            catch (Exception e) when (e is HttpRequestException or InvalidDataException or TaskCanceledException)
            {
                term.Error.WriteLine($"assocconv: {spec.Name}: {e.Message}");
                if (e is HttpRequestException)
                    term.Error.WriteLine($"assocconv: without a connection, copy the official files " +
                        $"({string.Join(", ", source.Files.Select(f => f.FileName))}) " +
                        $"from another machine{(source.Archive ? " and unpack them" : "")} into {target}, or into " +
                            $"any folder DIR and pass --data {spec.Name}:DIR");
                return ExitCodes.Failure;
            }
            term.Results.WriteLine($"{spec.Name} is in {folder}; use --data {spec.Name}" +
                (root == DatasetSpec.DefaultCacheRoot || root == Environment.GetEnvironmentVariable("ASSOCCONV_DATA")
                    ? "" : $":{folder}"));
            return ExitCodes.Success;
        });
        var command = new Command("data", "Datasets");
        command.Subcommands.Add(download);
        command.Subcommands.Add(Verify(terminal));
        return command;
    }

    // data verify SPEC: every official file's size, counts and checksum, as a table; exit 1 when any differs
    private static Command Verify(Func<bool, Terminal> terminal)
    {
        var spec = new Argument<string>("DATA") { Description = "cifar10[:DIR], cifar100[:DIR], " +
            "fashion-mnist[:DIR] or mnist[:DIR]" };
        var json = CommonOptions.Json();
        var verify = new Command("verify",
            "Check a dataset folder against the official files: sizes, record and image counts, MD5 where published, " +
                "and any MD5SUMS");
        verify.Arguments.Add(spec);
        verify.Options.Add(json);
        verify.SetAction(result =>
        {
            var term = terminal(result.GetValue(json));
            DatasetSpec parsed;
            try { parsed = DatasetSpec.Parse(result.GetValue(spec)!); }
            catch (FormatException e) { throw new UsageException(e.Message); }
            if (DatasetVerifier.OfficialCounts(parsed.Kind) is null)
                throw new UsageException($"'{parsed}' has no official files to verify; use cifar10, cifar100, " +
                    "fashion-mnist or mnist");
            var folder = Dataset.Locate(parsed);
            var checks = DatasetVerifier.Verify(parsed.Kind, folder);
            var table = new Table().Title(Markup.Escape(folder))
                .AddColumn("file").AddColumn("found").AddColumn("official").AddColumn("");
            foreach (var c in checks)
                table.AddRow(Markup.Escape(c.File), Markup.Escape(c.Found), Markup.Escape(c.Expected),
                    c.Ok ? "[green]ok[/]" : "[red]differs[/]");
            term.Results.Write(table);
            bool ok = checks.All(c => c.Ok);
            term.Results.WriteLine(ok ? $"{parsed.Name} in {folder} is " +
                "the official data" : $"{checks.Count(c => !c.Ok)} of {checks.Count} checks differ from the " +
                $"official {parsed.Name}");
            if (result.GetValue(json))
                term.Out.WriteLine(new System.Text.Json.Nodes.JsonObject
                {
                    ["folder"] = folder,
                    ["official"] = ok,
                    ["files"] =
                        new System.Text.Json.Nodes.JsonArray(checks.Select(c =>
                        (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
                    {
                        ["file"] = c.File, ["found"] = c.Found, ["official"] = c.Expected, ["ok"] = c.Ok,
                    }).ToArray()),
                }.ToJsonString(new() { WriteIndented = true }));
            return ok ? ExitCodes.Success : ExitCodes.Failure;
        });
        return verify;
    }

    private static string WithProgress(Terminal term, Func<IProgress<DownloadProgress>, CancellationToken,
        Task<string>> work)
    {
        var console = term.Status;
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler handler = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += handler;
        try
        {
            if (!(console.Profile.Capabilities.Interactive && console.Profile.Capabilities.Ansi))
            {
                int lastTenth = -1;
                var plain = new Progress<DownloadProgress>(p =>
                {
                    int tenth = p.Total is > 0 ? (int)(10 * p.Bytes / p.Total.Value) : -1;
                    if (tenth != lastTenth && tenth >= 0) term.Error.WriteLine($"{p.File}: {p.Bytes / 1e6:F1} of " +
                        $"{p.Total / 1e6:F1} MB");
                    lastTenth = tenth;
                });
                return work(plain, cancel.Token).GetAwaiter().GetResult();
            }
            string result = "";
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                    new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>();
                    var bar = new Progress<DownloadProgress>(p =>
                    {
                        if (!tasks.TryGetValue(p.File, out var task)) tasks[p.File] = task = ctx.AddTask(p.File,
                            maxValue: p.Total ?? 1);
                        if (p.Total is { } t) task.MaxValue = t;
                        task.Value = p.Bytes;
                    });
                    result = work(bar, cancel.Token).GetAwaiter().GetResult();
                });
            return result;
        }
        finally
        {
            Console.CancelKeyPress -= handler;
        }
    }
}
