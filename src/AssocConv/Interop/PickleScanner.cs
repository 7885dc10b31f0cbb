using System.Buffers.Binary;
using System.Text;

namespace AssocConv.Interop;

/// <summary>
/// Walks a pickle's opcodes without building anything, before Razorvine does: every length field must fit in
/// what is left of the stream (so a forged length cannot make the unpickler allocate gigabytes), every opcode
/// must be known, and every global named by <c>GLOBAL</c> must be on the allow-list.
/// </summary>
internal static class PickleScanner
{
    private static readonly HashSet<string> AllowedGlobals = new(
        new[] { "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" }
            .Concat(SafeUnpickler.StorageTypes.Keys.SelectMany(t => new[] { $"torch.{t}", $"torch.cuda.{t}" })),
        StringComparer.Ordinal);

    /// <summary>Checks the pickle starting at <paramref name="start"/>; returns the offset just after its STOP opcode.</summary>
    /// <exception cref="InvalidDataException">A truncated or forged length, an unknown opcode, or a global outside the allow-list.</exception>
    public static int Scan(string path, ReadOnlySpan<byte> data, int start = 0)
    {
        int i = start;
        string? lastString = null, previousString = null;
        while (true)
        {
            if (i >= data.Length) throw Fail(path, "the pickle ends without STOP");
            byte op = data[i++];
            long length;
            switch ((char)op)
            {
                case '.': return i;                                                    // STOP
                case '\x80': Need(path, data, i, 1); i += 1; break;                    // PROTO
                case '\x95': Need(path, data, i, 8); i += 8; break;                    // FRAME
                case 'K': case 'q': case 'h': Need(path, data, i, 1); i += 1; break;   // BININT1, BINPUT, BINGET
                case 'M': Need(path, data, i, 2); i += 2; break;                       // BININT2
                case 'J': case 'r': case 'j': Need(path, data, i, 4); i += 4; break;   // BININT, LONG_BINPUT, LONG_BINGET
                case 'G': Need(path, data, i, 8); i += 8; break;                       // BINFLOAT
                case '\x82': Need(path, data, i, 1); i += 1; break;                    // EXT1
                case '\x83': Need(path, data, i, 2); i += 2; break;                    // EXT2
                case '\x84': Need(path, data, i, 4); i += 4; break;                    // EXT4
                case 'U': case 'C': case '\x8c': case '\x8a':                          // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE, LONG1
                    Need(path, data, i, 1);
                    length = data[i];
                    i += 1;
                    Need(path, data, i, length);
                    if (op == 0x8c) (previousString, lastString) = (lastString, Encoding.UTF8.GetString(data.Slice(i, (int)length)));
                    i += (int)length;
                    break;
                case 'T': case 'B': case 'X': case '\x8b':                            // BINSTRING, BINBYTES, BINUNICODE, LONG4
                    Need(path, data, i, 4);
                    length = BinaryPrimitives.ReadUInt32LittleEndian(data[i..]);
                    i += 4;
                    Need(path, data, i, length);
                    if (op == 'X') (previousString, lastString) = (lastString, Encoding.UTF8.GetString(data.Slice(i, (int)length)));
                    i += (int)length;
                    break;
                case '\x8d': case '\x8e': case '\x96':                                 // BINUNICODE8, BINBYTES8, BYTEARRAY8
                    Need(path, data, i, 8);
                    length = (long)BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
                    i += 8;
                    Need(path, data, i, length);
                    i += (int)length;
                    break;
                case 'c':                                                             // GLOBAL module\nname\n
                {
                    var module = Line(path, data, ref i);
                    var name = Line(path, data, ref i);
                    Allow(path, $"{module}.{name}");
                    break;
                }
                case '\x93':                                                          // STACK_GLOBAL: the last two strings pushed
                    Allow(path, $"{previousString}.{lastString}");
                    break;
                case 'I': case 'L': case 'F': case 'S': case 'V': case 'P': case 'g': case 'p':   // text opcodes with a line argument
                    Line(path, data, ref i);
                    break;
                case 'i':                                                             // INST module\nname\n: a global too
                {
                    var module = Line(path, data, ref i);
                    var name = Line(path, data, ref i);
                    Allow(path, $"{module}.{name}");
                    break;
                }
                case 'N': case '\x88': case '\x89': case ')': case ']': case '}': case '(': case 't': case 'l': case 'd':
                case '\x85': case '\x86': case '\x87': case 'a': case 'e': case 's': case 'u': case 'R': case 'b': case 'o':
                case '0': case '1': case '2': case 'Q': case '\x81': case '\x92': case '\x8f': case '\x90': case '\x91':
                case '\x94': case '\x97': case '\x98':
                    break;
                default:
                    throw Fail(path, $"unknown pickle opcode 0x{op:x2} at byte {i - 1}");
            }
        }
    }

    private static void Allow(string path, string global)
    {
        if (!AllowedGlobals.Contains(global))
            throw new InvalidDataException($"{path}: refuses global '{global}' (only tensors, storages, ordered dicts, numbers and strings are loaded)");
    }

    private static void Need(string path, ReadOnlySpan<byte> data, int at, long count)
    {
        if (count < 0 || count > data.Length - at)
            throw Fail(path, $"a field at byte {at} declares {count:N0} bytes, {data.Length - at:N0} are left");
    }

    private static string Line(string path, ReadOnlySpan<byte> data, ref int i)
    {
        int end = data[i..].IndexOf((byte)'\n');
        if (end < 0) throw Fail(path, $"an unterminated line at byte {i}");
        var text = Encoding.UTF8.GetString(data.Slice(i, end));
        i += end + 1;
        return text;
    }

    private static InvalidDataException Fail(string path, string problem) => new($"{path}: damaged pickle: {problem}");
}
