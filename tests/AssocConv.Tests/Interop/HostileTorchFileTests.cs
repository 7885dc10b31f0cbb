using System.Diagnostics;
using System.IO.Compression;
using AssocConv.Interop;
using static AssocConv.Tests.Interop.CraftedTorchFiles;

namespace AssocConv.Tests.Interop;

/// <summary>
/// Crafted torch.save files that crashed, hung or exhausted the process, or slipped past the allow-list: each must
/// end in an <see cref="InvalidDataException"/> naming the file, quickly and without large allocations.
/// </summary>
public sealed class HostileTorchFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("assocconv-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes, string name = "crafted.pt")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    // refused by name, in well under a second, allocating at most a few times the file plus a small constant
    private InvalidDataException Refused(byte[] bytes, string expected)
    {
        var path = Write(bytes);
        GC.Collect();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        var e = Assert.Throws<InvalidDataException>(() => TorchFile.Read(path).Dispose());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 8L * bytes.Length + 64_000_000,
            $"allocated {allocated:N0} bytes for a file of {bytes.Length:N0}");
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("Exception", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    [Fact]
    public void The_crafting_helpers_make_files_that_load()
    {
        foreach (var bytes in new[] { Zip(StateDict().ToArray()), Legacy(StateDict().ToArray()) })
        {
            using var file = TorchFile.Read(Write(bytes));
            Assert.Equal([1f, 2f, 3f, 4f], file.StateDict["w"].data<float>().ToArray());
        }
    }

    public static TheoryData<string, byte[]> GlobalsNamedIndirectly()
    {
        // each pushes the global posix.system (or builtins.eval) by a different route, calls it, and stores the result;
        // allowed names pushed and dropped first are the decoy a scanner matching the last strings pushed would check
        var routes = new TheoryData<string, byte[]>();
        void Add(string route, Action<PickleBytes> push) =>
            routes.Add(route, StateDict(p =>
            {
                p.Str("x");
                p.Str("torch").Str("FloatStorage").Op('0').Op('0');
                push(p);
                p.Op('(').Str("echo pwned").Op('t').Op('R');
            }).ToArray());
        Add("GLOBAL", p => p.Global("posix", "system"));
        Add("INST", p => p.Op('(').Str("echo").Ascii("iposix\nsystem\n"));
        Add("STACK_GLOBAL from BINUNICODE", p => p.Str("posix").Str("system").Op(0x93));
        Add("STACK_GLOBAL through the memo", p => p.Str("posix").Put(0).Op('0').Str("system").Put(1).Op('0')
            .Str("torch").Str("FloatStorage").Op('0').Op('0').Get(0).Get(1).Op(0x93));
        Add("STACK_GLOBAL after DUP and POP", p => p.Str("builtins").Str("eval").Op('2').Op('0')
            .Str("torch").Str("FloatStorage").Op('0').Op('0').Op(0x93));
        Add("STACK_GLOBAL from BINUNICODE8",
            p => p.Op(0x8d).Raw(BitConverter.GetBytes(5L)).Ascii("posix")
                .Op(0x8d).Raw(BitConverter.GetBytes(6L)).Ascii("system").Op(0x93));
        Add("STACK_GLOBAL from UNICODE", p => p.Ascii("Vposix\nVsystem\n").Op(0x93));
        Add("STACK_GLOBAL from an escaped UNICODE", p => p.Ascii("Vpos\\u0069x\nVsystem\n").Op(0x93));
        Add("STACK_GLOBAL from STRING", p => p.Ascii("S'posix'\nS'system'\n").Op(0x93));
        Add("STACK_GLOBAL from SHORT_BINSTRING",
            p => p.Op('U').Raw(5).Ascii("posix").Op('U').Raw(6).Ascii("system").Op(0x93));
        Add("STACK_GLOBAL from BINSTRING",
            p => p.Op('T').Raw(BitConverter.GetBytes(5)).Ascii("posix")
                .Op('T').Raw(BitConverter.GetBytes(6)).Ascii("system").Op(0x93));
        Add("EXT1", p => p.Op(0x82).Raw(1));
        return routes;
    }

    [Theory]
    [MemberData(nameof(GlobalsNamedIndirectly))]
    public void A_global_outside_the_allow_list_is_refused_whatever_opcodes_build_its_name(string route, byte[] pickle)
    {
        Assert.NotEmpty(route);
        var e = Refused(Zip(pickle), "");
        Assert.True(e.Message.Contains("refuses global") || e.Message.Contains("extension-registry"), e.Message);
        Refused(Legacy(pickle), "");
    }

    [Theory]
    [InlineData("list")]
    [InlineData("dict")]
    public void A_container_holding_itself_is_refused(string kind)
    {
        var pickle = StateDict(p =>
        {
            p.Str("x");
            if (kind == "list") p.Op(']').Put(0).Get(0).Op('a');
            else p.Op('}').Put(0).Str("self").Get(0).Op('s');
        }).ToArray();
        Refused(Zip(pickle), "holds itself");
    }

    [Theory]
    [InlineData("lists")]    // 200,000 lists, each appended to the one below
    [InlineData("tuples")]   // 200,000 tuples, each of the one below
    public void Deep_nesting_is_refused_without_overflowing_the_stack(string kind)
    {
        const int levels = 200_000;
        var pickle = StateDict(p =>
        {
            p.Str("x");
            if (kind == "lists") p.Repeat(']', levels).Repeat('a', levels - 1);
            else p.Op(')').Repeat('\x85', levels);
        }).ToArray();
        Refused(Zip(pickle), "nested deeper than");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Sixty_levels_of_repeated_references_are_refused(bool tensorLeaves)
    {
        // level k is a list holding level k-1 twice: 2^60 paths through 1.5 KB
        var pickle = StateDict(p =>
        {
            p.Str("x");
            if (tensorLeaves) p.Tensor("0", 4, [4], [1]); else p.Op(']');
            p.Put(0).Op('0');
            for (int k = 1; k <= 60; k++) p.Op(']').Get(k - 1).Op('a').Get(k - 1).Op('a').Put(k).Op('0');
            p.Get(60);
        }).ToArray();
        Refused(Zip(pickle), tensorLeaves ? "more than 20,000 tensors" : "exceed");
    }

    [Fact]
    public void A_view_with_stride_0_cannot_expand_a_storage()
    {
        var pickle = new PickleBytes().Proto().OrderedDict().Op('(').Str("w").Tensor("0", 4, [40_000, 40_000],
            [0, 0]).Op('u').Op('.').ToArray();
        Refused(Zip(pickle), "twice its storages");
        Refused(Legacy(pickle), "twice its storages");
    }

    [Fact]
    public void Too_many_objects_are_refused_before_they_are_built()
    {
        var pickle = StateDict(p => p.Str("x").Op('(').Repeat(']', PickleScanner.MaxObjects).Op('l')).ToArray();
        Refused(Zip(pickle), $"more than {PickleScanner.MaxObjects:N0} objects");
    }

    [Fact]
    public void A_compressed_pickle_or_storage_cannot_expand_beyond_a_few_times_the_file()
    {
        // 33 MB of EMPTY_LIST opcodes and a 64 MiB storage of zeros, each deflated to a few tens of kilobytes
        var pickle = new PickleBytes().Proto().Repeat(']', 33_000_000).ToArray();
        var bomb = Zip(pickle, level: CompressionLevel.Optimal);
        Assert.True(bomb.Length < 200_000);
        Refused(bomb, "beyond what the file may decode to");

        var zeros = new byte[64 << 20];
        var storageBomb = Zip(new PickleBytes().Proto().OrderedDict().Op('(').Str("w").Tensor("0", zeros.Length / 4,
            [zeros.Length / 4], [1]).Op('u').Op('.').ToArray(),
            new Dictionary<string, byte[]> { ["0"] = zeros }, CompressionLevel.Optimal);
        Refused(storageBomb, "beyond what the file may decode to");
    }

    [Fact]
    public void A_damaged_zip_entry_fails_its_crc()
    {
        var bytes = Zip(StateDict().ToArray());
        int at = bytes.AsSpan().IndexOf(Floats(1, 2, 3, 4));
        Assert.True(at > 0);
        bytes[at + 5] ^= 0x40;   // 2.0 becomes another float: the file would load and predict differently
        Refused(bytes, "CRC-32");
    }

    [Fact]
    public void Zip_faults_name_the_file_and_no_dotnet_type()
    {
        var bytes = Zip(StateDict().ToArray());
        int directory = bytes.AsSpan().LastIndexOf("PK\u0001\u0002"u8);
        bytes[directory + 20] ^= 0x7f;   // the central directory's compressed size of the last entry
        var path = Write(bytes);
        var e = Assert.Throws<InvalidDataException>(() => TorchFile.Read(path).Dispose());
        Assert.StartsWith(path + ": ", e.Message);
        Assert.DoesNotContain("Exception", e.Message);
    }

    [Fact]
    public async Task Devices_and_pipes_are_refused_at_once_and_links_are_followed()
    {
        var watch = Stopwatch.StartNew();
        var zero = Assert.Throws<InvalidDataException>(() => TorchFile.Read("/dev/zero"));
        Assert.Contains("not a regular file", zero.Message);

        var fifo = Path.Combine(_dir, "fifo.pt");
        TestSupport.RunProcess(new ProcessStartInfo("mkfifo", [fifo]), TimeSpan.FromSeconds(10));
        var reading = Task.Run(() => TorchFile.Read(fifo));
        Assert.Same(reading, await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(5))));   // not blocked
        Assert.IsType<InvalidDataException>(reading.Exception?.InnerException);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");

        var target = Write(Zip(StateDict().ToArray()), "target.pt");
        var link = Path.Combine(_dir, "link.pt");
        File.CreateSymbolicLink(link, target);
        using var file = TorchFile.Read(link);
        Assert.Equal(4, file.StateDict["w"].numel());

        var directory = Assert.Throws<ArgumentException>(() => TorchFile.Read(_dir));
        Assert.Contains("is a directory", directory.Message);
    }
}
