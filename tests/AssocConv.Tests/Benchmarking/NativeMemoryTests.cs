using AssocConv.Benchmarking;
using AssocConv.Csg;
using AssocConv.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AssocConv.Tests.Benchmarking;

public class NativeMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public void A_thousand_training_steps_keep_resident_memory_flat()
    {
        torch.manual_seed(41);
        var model = new SmallCnn(new ModelOptions { Generator = new GeneratorOptions { Slice = new SliceShape(8, 8),
            CodeSize = 16 } });
        using var optimizer = optim.SGD(model.parameters(), 0.01, momentum: 0.9, weight_decay: 5e-4);
        using var x = torch.randn(8, 3, 16, 16);
        using var labels = torch.randint(0, 10, 8, dtype: int64);
        model.train();

        void Step()
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), labels);
            loss.backward();
            optimizer.step();
        }

        for (int i = 0; i < 500; i++) Step();     // warm-up: allocator pools, thread pools, GC budgets
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long start = ProcessMemory.ResidentBytes();
        for (int i = 0; i < 1000; i++) Step();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long growth = ProcessMemory.ResidentBytes() - start;
        output.WriteLine($"resident memory: {start >> 20} MiB after warm-up, growth {growth / (double)(1 << 20):F1} " +
            "MiB over 1,000 steps");

        // each step creates ~1 MB of activations and gradients; a leak of even one of them per step would add
        // hundreds of MB over 1,000 steps
        Assert.True(growth < 16L << 20, $"resident memory grew by {growth / (1 << 20)} MiB over 1,000 steps");
    }
}
