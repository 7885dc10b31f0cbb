using AssocConv.Cli;
using AssocConv.Data;
using static AssocConv.Tests.TestSupport;

namespace AssocConv.Tests.Data;

/// <summary><c>data verify</c> and the loaders' warning: a file cut at a record boundary reads, but is not the official
/// data.</summary>
public sealed class DatasetVerifierTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-verify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Cifar = "datasets/cifar-10-batches-bin";

    [SharedFact(Cifar)]
    public void The_real_cifar10_verifies_and_a_copy_cut_at_a_record_boundary_does_not()
    {
        var (code, stdout, err) = RunCli("data", "verify", "cifar10:" + SharedPath(Cifar), "--json");
        Assert.True(code == 0, err);
        Assert.Contains("\"official\": true", stdout);
        Assert.Contains("is the official data", err);

        // every file linked, one cut to 9,999 records: it still loads, as 49,999 images
        var cut = Directory.CreateDirectory(Path.Combine(_dir, "cut")).FullName;
        foreach (var file in Directory.GetFiles(SharedPath(Cifar)).Where(f => Path.GetFileName(f) != "MD5SUMS"))
            File.CreateSymbolicLink(Path.Combine(cut, Path.GetFileName(file)), file);
        var batch = Path.Combine(cut, "data_batch_3.bin");
        var bytes = File.ReadAllBytes(batch)[..(9_999 * 3073)];
        File.Delete(batch);
        File.WriteAllBytes(batch, bytes);

        (code, stdout, err) = RunCli("data", "verify", "cifar10:" + cut, "--json");
        Assert.Equal(1, code);
        Assert.Contains("\"found\": \"9,999 records\"", stdout);
        Assert.Contains("1 of 6 checks differ", err);

        var output = new StringWriter();
        var error = new StringWriter();
        using var data = DataArguments.Load(DatasetSpec.Parse("cifar10:" + cut),
            new Terminal(output, error, json: false));
        Assert.Equal(49_999, data.Train.Count);
        Assert.Contains("49,999 training and 10,000 test images", error.ToString());
        Assert.Contains("the official cifar10 has 50,000 training and 10,000 test images; check the files with " +
            "'assocconv data verify", error.ToString());
    }

    [SystemFact("/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist")]
    public void Debian_fashion_mnist_has_the_official_counts_though_recompressed()
    {
        var (code, stdout, err) = RunCli("data", "verify", "fashion-mnist:/usr/share/datasets/fashion-mnist");
        Assert.True(code == 0, err);
        Assert.Contains("is the official data", stdout);
    }

    [Fact]
    public void Verify_names_what_it_cannot_check()
    {
        var (code, _, err) = RunCli("data", "verify", "sample");
        Assert.Equal(2, code);
        Assert.Contains("no official files to verify", err);
        (code, var stdout, _) = RunCli("data", "verify", "cifar10:" + _dir);
        Assert.Equal(1, code);
        Assert.Contains("6 of 6 checks differ", stdout);
    }
}
