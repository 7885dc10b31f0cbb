using System.Text.Json;
using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Tests.Models;

/// <summary>
/// Our models against the reference architectures as PyTorch computes them
/// (<c>tools/make_reference_outputs.py</c>, run with Debian's python3-torch): same state-dict names and
/// shapes, and the same logits in float64 for weights and inputs both sides build from one formula.
/// </summary>
public class ReferenceOutputsTests
{
    private static readonly Lazy<JsonElement[]> Cases = new(() =>
    {
        var path = Path.Combine(TestSupport.RepositoryRoot(), "tests/AssocConv.Tests/Fixtures/reference-outputs.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    });

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases.Value.Length; i++) data.Add(i);
        return data;
    }

    /// <summary>
    /// The fixture's formula: a Weyl sequence scrambled by one multiply. Every step is one correctly
    /// rounded IEEE operation (no fused multiply-add), so numpy and libtorch give the same doubles.
    /// </summary>
    private static Tensor Pattern(long count, int salt)
    {
        using var scope = torch.NewDisposeScope();
        var u = torch.arange(1, count + 1, dtype: float64).mul_(0.6180339887498949).add_(salt * 0.7548776662466927);
        u.sub_(u.floor());
        u.mul_(997.0);
        u.sub_(u.floor());
        return u.mul_(2.0).sub_(1.0).MoveToOuterDisposeScope();
    }

    private static void Fill(nn.Module model)
    {
        using var _ = torch.no_grad();
        var state = model.state_dict();
        var keys = state.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        for (int index = 0; index < keys.Count; index++)
        {
            var key = keys[index];
            var t = state[key];
            if (key.EndsWith("num_batches_tracked", StringComparison.Ordinal)) continue;
            using var scope = torch.NewDisposeScope();
            var v = Pattern(t.numel(), index);
            string name = key[(key.LastIndexOf('.') + 1)..];
            var values = name switch
            {
                "running_var" => 1.0 + 0.5 * v * v,
                "running_mean" => 0.1 * v,
                "bias" when t.ndim == 1 => 0.1 * v,
                _ when t.ndim == 1 => 1.0 + 0.2 * v,
                _ when name.StartsWith("code", StringComparison.Ordinal) => 0.05 * v,
                _ => Math.Sqrt(3.0 / (t.numel() / t.shape[0])) * v,
            };
            t.copy_(values.view(t.shape));
        }
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Our_model_computes_what_the_reference_architecture_computes(int index)
    {
        var c = Cases.Value[index];
        string name = c.GetProperty("model").GetString()!;
        var slice = c.GetProperty("slice");
        var options = new ModelOptions { Plain = slice.ValueKind == JsonValueKind.Null, NumClasses = 10 };
        if (!options.Plain)
            options = options with
            {
                Generator = ModelZoo.Get(name).DefaultGenerator with
                {
                    Slice = SliceShape.Parse(slice.GetString()!),
                    CodeSize = c.GetProperty("code_size").GetInt32(),
                },
            };
        using var model = ModelZoo.Create(name, options);
        model.to(float64);
        model.eval();

        var expected = c.GetProperty("state_dict").EnumerateObject()
            .Select(p => $"{p.Name} [{p.Value.GetString()}]").ToList();
        var actual = model.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} [{string.Join("x", kv.Value.shape)}]").ToList();
        Assert.Equal(expected, actual);

        Fill(model);
        model.InvalidateKernels();
        var shape = c.GetProperty("input").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        using var x = Pattern(shape.Aggregate(1L, (a, b) => a * b), 1000).view(shape);
        using var noGrad = torch.no_grad();
        using var y = model.call(x);
        var logits = TestSupport.Values(y);
        var reference = c.GetProperty("logits").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(reference.Length, logits.Length);
        double scale = reference.Max(Math.Abs);
        double worst = reference.Zip(logits, (r, o) => Math.Abs(r - o)).Max();
        Assert.True(worst <= 1e-9 * scale, $"{name}: largest difference {worst:E2} for logits up to {scale:F3}");
    }
}
