using System.Text.Json;
using AssocConv.Csg;
using AssocConv.Models;

namespace AssocConv.Tests.Distributed;

public class MpiBenchTests
{
    [SystemFact("/usr/bin/mpirun", "openmpi-bin")]
    public void Two_ranks_average_gradients_keep_parameters_identical_and_send_the_trainable_bytes()
    {
        var (stdout, stderr) = TwoRanks.Run("bench", "--distributed", "--models", "small-cnn", "--steps", "3",
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
