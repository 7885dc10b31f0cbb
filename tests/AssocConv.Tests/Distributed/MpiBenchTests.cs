using System.Diagnostics;
using System.Text.Json;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Tests.Distributed;

public class MpiBenchTests
{
    /// <summary>Runs the command line under <c>mpirun -np 2</c>, one thread per rank, asserting it succeeded; returns
    /// the ranks' stdout (rank 0 alone prints) and stderr.</summary>
    internal static (string Out, string Err) RunOnTwoRanks(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "AssocConv.Cli.dll");
        var info = new ProcessStartInfo("mpirun",
            ["--allow-run-as-root", "--oversubscribe", "-np", "2", "dotnet", dll, .. args, "--threads", "1"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        // mpirun gives the ranks a pseudo-terminal, and .NET would then write a terminal mode sequence into stdout
        info.Environment["TERM"] = "dumb";
        return TestSupport.RunProcess(info, TimeSpan.FromMinutes(3));
    }

    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void Two_ranks_average_gradients_keep_parameters_identical_and_send_the_trainable_bytes()
    {
        var (stdout, stderr) = RunOnTwoRanks("bench", "--distributed", "--models", "small-cnn", "--steps", "3",
            "--batch-size", "16", "--json");
        using var doc = JsonDocument.Parse(stdout);
        var rows = doc.RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("variant").GetString()!);
        Assert.True(rows.Count == 2, stderr);
        foreach (var (variant, plain) in new[] { ("plain", true), ("associative", false) })
        {
            var r = rows[variant];
            using var model = ModelZoo.Create("small-cnn", new ModelOptions { Plain = plain });
            long trainable = ParameterReport.Of(model).Trainable;
            Assert.Equal(2, r.GetProperty("ranks").GetInt32());
            Assert.Equal(trainable, r.GetProperty("trainable").GetInt64());
            Assert.Equal(4 * trainable, r.GetProperty("bytes_per_rank").GetInt64());
            Assert.True(r.GetProperty("parameters_identical").GetBoolean(), $"{variant}: ranks diverged");
            Assert.Equal(3, r.GetProperty("allreduce_ms").GetProperty("samples").GetArrayLength());
            Assert.Equal(3, r.GetProperty("wait_ms").GetProperty("samples").GetArrayLength());
        }
        Assert.True(rows["associative"].GetProperty("bytes_per_rank").GetInt64()
            < rows["plain"].GetProperty("bytes_per_rank").GetInt64() / 2);
    }
}
