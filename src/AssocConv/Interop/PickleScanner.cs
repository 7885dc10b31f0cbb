using System.Buffers.Binary;
using System.Text;

namespace AssocConv.Interop;

/// <summary>
/// Runs a pickle's opcodes on a symbolic stack before Razorvine builds anything. Strings are tracked through
/// the stack and the memo exactly as the unpickler will see them, so every global is checked against the
/// allow-list whatever opcodes built its name (<c>STACK_GLOBAL</c> after <c>BINGET</c>, <c>DUP</c>, <c>V</c>...).
/// Lengths must fit what is left of the stream and the number of objects is bounded, so a small or
/// compressed file cannot make the unpickler allocate gigabytes.
/// </summary>
internal static class PickleScanner
{
    /// <summary>
    /// Objects a pickle may create. A ResNet-152's state dict needs about 15,000; the bound keeps what the unpickler
    /// builds from a small file to tens of megabytes.
    /// </summary>
    public const int MaxObjects = 250_000;

    private static readonly HashSet<string> AllowedGlobals = new(
        new[] { "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" }
            .Concat(SafeUnpickler.StorageTypes.Keys.SelectMany(t => new[] { $"torch.{t}", $"torch.cuda.{t}" })),
        StringComparer.Ordinal);

    private enum Kind { Mark, Value, Text, Global }

    // Text is the exact string the unpickler will hold, or null when its decoding is not reproduced here
    // (escapes, non-ASCII 8-bit strings): such a string can never name a global.
    private readonly record struct Symbol(Kind Kind, string? Text = null);

    private static readonly Symbol Mark = new(Kind.Mark), Value = new(Kind.Value), Global = new(Kind.Global);

    /// <summary>Checks the pickle starting at <paramref name="start"/>; returns the offset just after its STOP
    /// opcode.</summary>
    /// <exception cref="InvalidDataException">
    /// A truncated or forged length, an unknown or unsupported opcode, a global outside the allow-list, or more
    /// objects than <see cref="MaxObjects"/>.
    /// </exception>
    public static int Scan(string path, ReadOnlySpan<byte> data, int start = 0)
    {
        var stack = new List<Symbol>();
        var memo = new List<Symbol>();
        int i = start, created = 0;

        void Push(Symbol s)
        {
            if (++created > MaxObjects) throw Fail(path,
                $"more than {MaxObjects:N0} objects (a state dict needs a few thousand)");
            stack.Add(s);
        }
        Symbol Pop(int at)
        {
            if (stack.Count == 0) throw Fail(path, $"opcode at byte {at} pops an empty stack");
            var top = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return top;
        }
        Symbol PopValue(int at)
        {
            var s = Pop(at);
            if (s.Kind == Kind.Mark) throw Fail(path, $"opcode at byte {at} pops a mark");
            return s;
        }
        void PopToMark(int at)
        {
            int mark = stack.FindLastIndex(s => s.Kind == Kind.Mark);
            if (mark < 0) throw Fail(path, $"opcode at byte {at} finds no mark");
            stack.RemoveRange(mark, stack.Count - mark);
        }
        Symbol Top(int at) => stack.Count > 0 && stack[^1].Kind != Kind.Mark ? stack[^1] : throw Fail(path,
            $"opcode at byte {at} needs a value on the stack");
        void Memoize(long index, int at)
        {
            // picklers number memo entries 0, 1, 2...; anything else could make our memo and the unpickler's differ
            if (index != memo.Count) throw Fail(path, $"memo index {index} at byte {at}, expected {memo.Count}");
            memo.Add(Top(at));
        }
        void Recall(long index, int at)
        {
            if (index < 0 || index >= memo.Count) throw Fail(path,
                $"opcode at byte {at} recalls memo entry {index}, which is not set");
            Push(memo[(int)index]);
        }
        void CheckGlobal(string? module, string? name)
        {
            var global = $"{module}.{name}";
            if (module is null || name is null || !AllowedGlobals.Contains(global))
                throw new InvalidDataException($"{path}: refuses global '{global}' (only tensors, storages, ordered " +
                    "dicts, numbers and strings are loaded)");
        }

        while (true)
        {
            if (i >= data.Length) throw Fail(path, "the pickle ends without STOP");
            int at = i;
            byte op = data[i++];
            switch ((char)op)
            {
                case '.':                                                                // STOP
                    PopValue(at);
                    return i;
                case '\x80': Need(path, data, i, 1); i += 1; break;                      // PROTO
                case '\x95': Need(path, data, i, 8); i += 8; break;                      // FRAME
                case '(': Push(Mark); break;                                             // MARK
                case '0': Pop(at); break;                                                // POP
                case '1': PopToMark(at); break;                                          // POP_MARK
                case '2': Push(Top(at)); break;                                          // DUP
                case 'N': case '\x88': case '\x89': Push(Value); break;                  // NONE, NEWTRUE, NEWFALSE
                case 'K': Need(path, data, i, 1); i += 1; Push(Value); break;            // BININT1
                case 'M': Need(path, data, i, 2); i += 2; Push(Value); break;            // BININT2
                case 'J': Need(path, data, i, 4); i += 4; Push(Value); break;            // BININT
                case 'G': Need(path, data, i, 8); i += 8; Push(Value); break;            // BINFLOAT
                case 'I': case 'L': case 'F': Line(path, data, ref i); Push(Value); break;   // INT, LONG, FLOAT
                case '\x8a': Skip(path, data, ref i, 1); Push(Value); break;             // LONG1
                case '\x8b': Skip(path, data, ref i, 4); Push(Value); break;             // LONG4
                case 'C': Skip(path, data, ref i, 1); Push(Value); break;                // SHORT_BINBYTES
                case 'B': Skip(path, data, ref i, 4); Push(Value); break;                // BINBYTES
                case '\x8e': case '\x96': Skip(path, data, ref i, 8); Push(Value); break;   // BINBYTES8, BYTEARRAY8
                case '\x8c': Push(Utf8(Skip(path, data, ref i, 1))); break;              // SHORT_BINUNICODE
                case 'X': Push(Utf8(Skip(path, data, ref i, 4))); break;                 // BINUNICODE
                case '\x8d': Push(Utf8(Skip(path, data, ref i, 8))); break;              // BINUNICODE8
                case 'U': Push(Plain(Skip(path, data, ref i, 1))); break;                // SHORT_BINSTRING
                case 'T': Push(Plain(Skip(path, data, ref i, 4))); break;                // BINSTRING
                case 'V': Push(Plain(Line(path, data, ref i))); break;                   // UNICODE (raw-unicode-escape)
                case 'S': Push(Quoted(Line(path, data, ref i))); break;                  // STRING (a Python literal)
                case 'c':                                                                // GLOBAL module\nname\n
                {
                    var module = Plain(Line(path, data, ref i)).Text;
                    CheckGlobal(module, Plain(Line(path, data, ref i)).Text);
                    Push(Global);
                    break;
                }
                case '\x93':                                                             // STACK_GLOBAL
                {
                    var name = PopValue(at);
                    var module = PopValue(at);
                    CheckGlobal(module.Kind == Kind.Text ? module.Text : null,
                        name.Kind == Kind.Text ? name.Text : null);
                    Push(Global);
                    break;
                }
                case 'i':                                                                // INST module\nname\n
                {
                    var module = Plain(Line(path, data, ref i)).Text;
                    CheckGlobal(module, Plain(Line(path, data, ref i)).Text);
                    PopToMark(at);
                    Push(Value);
                    break;
                }
                case '\x82': case '\x83': case '\x84':                                   // EXT1, EXT2, EXT4
                    throw Fail(path,
                        $"extension-registry opcode 0x{op:x2} at byte {at} (it names a global indirectly)");
                case 'P': Line(path, data, ref i); Push(Value); break;                   // PERSID
                case 'Q': PopValue(at); Push(Value); break;                              // BINPERSID
                case 'R': PopValue(at); PopValue(at); Push(Value); break;                // REDUCE
                case '\x81': PopValue(at); PopValue(at); Push(Value); break;             // NEWOBJ
                case '\x92': PopValue(at); PopValue(at); PopValue(at); Push(Value); break;   // NEWOBJ_EX
                case 'o': PopToMark(at); Push(Value); break;                             // OBJ
                case 'b': PopValue(at); Top(at); break;                                  // BUILD
                // EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT, EMPTY_SET
                case ')': case ']': case '}': case '\x8f': Push(Value); break;
                // TUPLE, LIST, DICT, FROZENSET
                case 't': case 'l': case 'd': case '\x91': PopToMark(at); Push(Value); break;
                case '\x85': PopValue(at); Push(Value); break;                           // TUPLE1
                case '\x86': PopValue(at); PopValue(at); Push(Value); break;             // TUPLE2
                case '\x87': PopValue(at); PopValue(at); PopValue(at); Push(Value); break;   // TUPLE3
                case 'a': PopValue(at); Top(at); break;                                  // APPEND
                case 's': PopValue(at); PopValue(at); Top(at); break;                    // SETITEM
                case 'e': case 'u': case '\x90': PopToMark(at); Top(at); break;          // APPENDS, SETITEMS, ADDITEMS
                case 'p': Memoize(Number(path, Line(path, data, ref i), at), at); break; // PUT
                case 'q': Need(path, data, i, 1); Memoize(data[i], at); i += 1; break;   // BINPUT
                case 'r': Need(path, data, i, 4); Memoize(BinaryPrimitives.ReadUInt32LittleEndian(data[i..]),
                    at); i += 4; break;   // LONG_BINPUT
                case '\x94': Memoize(memo.Count, at); break;                             // MEMOIZE
                case 'g': Recall(Number(path, Line(path, data, ref i), at), at); break;  // GET
                case 'h': Need(path, data, i, 1); Recall(data[i], at); i += 1; break;    // BINGET
                case 'j': Need(path, data, i, 4); Recall(BinaryPrimitives.ReadUInt32LittleEndian(data[i..]),
                    at); i += 4; break;   // LONG_BINGET
                case '\x97': case '\x98':                                                // NEXT_BUFFER, READONLY_BUFFER
                    throw Fail(path, $"out-of-band buffer opcode 0x{op:x2} at byte {at}");
                default:
                    throw Fail(path, $"unknown pickle opcode 0x{op:x2} at byte {at}");
            }
        }
    }

    private static Symbol Utf8(ReadOnlySpan<byte> bytes) => new(Kind.Text, Encoding.UTF8.GetString(bytes));

    // 8-bit and escaped strings: exact only when they are printable ASCII without escapes
    private static Symbol Plain(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
            if (b < 0x20 || b > 0x7e || b == '\\') return new Symbol(Kind.Text);
        return new Symbol(Kind.Text, Encoding.ASCII.GetString(bytes));
    }

    private static Symbol Quoted(ReadOnlySpan<byte> line) =>
        line.Length >= 2 && line[0] == line[^1] && line[0] is (byte)'\'' or (byte)'"' ? Plain(line[1..^1])
            : new Symbol(Kind.Text);

    private static long Number(string path, ReadOnlySpan<byte> line, int at) =>
        long.TryParse(Encoding.ASCII.GetString(line),
            out var n) ? n : throw Fail(path, $"a memo index that is not a number at byte {at}");

    private static void Need(string path, ReadOnlySpan<byte> data, int at, long count)
    {
        if (count < 0 || count > data.Length - at)
            throw Fail(path, $"a field at byte {at} declares {count:N0} bytes, {data.Length - at:N0} are left");
    }

    // a length-prefixed field: returns its bytes and moves past them
    private static ReadOnlySpan<byte> Skip(string path, ReadOnlySpan<byte> data, ref int i, int lengthBytes)
    {
        Need(path, data, i, lengthBytes);
        long length = lengthBytes switch
        {
            1 => data[i],
            4 => BinaryPrimitives.ReadUInt32LittleEndian(data[i..]),
            _ => (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(data[i..]), long.MaxValue),
        };
        i += lengthBytes;
        Need(path, data, i, length);
        var field = data.Slice(i, (int)length);
        i += (int)length;
        return field;
    }

    private static ReadOnlySpan<byte> Line(string path, ReadOnlySpan<byte> data, ref int i)
    {
        int end = data[i..].IndexOf((byte)'\n');
        if (end < 0) throw Fail(path, $"an unterminated line at byte {i}");
        var line = data.Slice(i, end);
        i += end + 1;
        return line;
    }

    private static InvalidDataException Fail(string path, string problem) => new($"{path}: damaged pickle: {problem}");
}
