using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Ingest.Ctf;

/// <summary>
/// Parses CTF 1.8 TSDL (the metadata language) into a <see cref="CtfMetadata"/>: type aliases, integer,
/// floating_point, string, enum, struct, variant, arrays and sequences, and the trace/env/clock/stream/event blocks.
/// </summary>
internal sealed class TsdlParser
{
    private const int MaxNesting = 64;
    private const int MaxAlignBits = 1 << 16;

    private readonly List<TsdlToken> _tokens;
    private readonly string _fileName;
    private readonly CtfMetadata _metadata = new();
    private readonly Dictionary<string, CtfType> _aliases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CtfStruct> _structs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CtfEnum> _enums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CtfVariant> _variants = new(StringComparer.Ordinal);
    private readonly List<List<CtfField>> _scopes = [];
    private readonly Dictionary<string, CtfField> _rootFields = new(StringComparer.Ordinal);
    private readonly List<CtfType> _numbers = [];
    private readonly List<CtfEventClass> _events = [];
    private int _pos;

    private TsdlParser(List<TsdlToken> tokens, string fileName)
    {
        _tokens = tokens;
        _fileName = fileName;
    }

    public static CtfMetadata Parse(string text, string fileName)
    {
        var parser = new TsdlParser(TsdlLexer.Tokenize(text, fileName), fileName);
        parser.ParseTopLevel();
        return parser.Finish();
    }

    private TsdlToken Peek => _tokens[_pos];

    private TsdlToken Next() => _tokens[_pos < _tokens.Count - 1 ? _pos++ : _pos];

    private bool PeekIdentifier(string word) => Peek.Kind == TsdlTokenKind.Identifier && Peek.Text == word;

    private void Expect(string punct)
    {
        var token = Next();
        if (!token.Is(punct))
        {
            Fail(token, $"'{punct}'");
        }
    }

    private bool Accept(string punct)
    {
        if (Peek.Is(punct))
        {
            _pos++;
            return true;
        }
        return false;
    }

    [DoesNotReturn]
    private void Fail(TsdlToken token, string expected) =>
        throw new TraceFormatException(_fileName, token.Line, "line", $"TSDL metadata: expected {expected}, found {token}.");

    private void ParseTopLevel()
    {
        while (Peek.Kind != TsdlTokenKind.End)
        {
            if (Accept(";"))
            {
                continue;
            }
            var token = Peek;
            if (token.Kind != TsdlTokenKind.Identifier)
            {
                Fail(token, "a declaration (typealias, trace, env, clock, stream, event, struct, enum, variant)");
            }
            switch (token.Text)
            {
                case "typealias":
                    ParseTypealias();
                    break;
                case "typedef":
                    ParseTypedef();
                    break;
                case "trace":
                case "env":
                case "clock":
                case "stream":
                case "event":
                case "callsite":
                    _pos++;
                    ParseBlock(token.Text);
                    break;
                case "struct":
                case "enum":
                case "variant":
                    ParseTypeSpec(declarator: false);
                    Expect(";");
                    break;
                default:
                    Fail(token, "a declaration (typealias, trace, env, clock, stream, event, struct, enum, variant)");
                    break;
            }
        }
    }

    private void ParseTypealias()
    {
        _pos++;
        var type = ParseTypeSpec(declarator: false);
        Expect(":=");
        var name = ReadWords(";");
        Expect(";");
        _aliases[name] = type;
    }

    private void ParseTypedef()
    {
        _pos++;
        var type = ParseTypeSpec(declarator: true);
        var name = Next();
        if (name.Kind != TsdlTokenKind.Identifier)
        {
            Fail(name, "a typedef name");
        }
        _aliases[name.Text] = ApplySuffixes(type);
        Expect(";");
    }

    // Identifiers (and '*') up to the terminator, joined by spaces: "unsigned long".
    private string ReadWords(string terminator)
    {
        var words = new List<string>();
        while (!Peek.Is(terminator) && Peek.Kind != TsdlTokenKind.End)
        {
            var token = Next();
            if (token.Kind != TsdlTokenKind.Identifier && !token.Is("*"))
            {
                Fail(token, "a type name");
            }
            words.Add(token.Text);
        }
        if (words.Count == 0)
        {
            Fail(Peek, "a type name");
        }
        return string.Join(' ', words);
    }

    private void ParseBlock(string kind)
    {
        Expect("{");
        var values = new Dictionary<string, (string Value, TsdlToken At)>(StringComparer.Ordinal);
        var types = new Dictionary<string, CtfType>(StringComparer.Ordinal);
        while (!Accept("}"))
        {
            if (Accept(";"))
            {
                continue;
            }
            if (PeekIdentifier("typealias"))
            {
                ParseTypealias();
                continue;
            }
            var keyToken = Peek;
            var key = ReadKey();
            if (Accept(":="))
            {
                var type = ParseTypeSpec(declarator: false);
                types[key] = type;
                if (type is CtfStruct root && kind is "trace" or "stream")
                {
                    foreach (var field in root.Fields)
                    {
                        _rootFields[field.Name] = field;
                    }
                }
            }
            else if (Accept("="))
            {
                values[key] = (ReadValue(), keyToken);
            }
            else
            {
                Fail(Peek, $"'=' or ':=' after '{key}'");
            }
            Expect(";");
        }
        Expect(";");
        switch (kind)
        {
            case "trace":
                if (values.TryGetValue("byte_order", out var order))
                {
                    _metadata.ByteOrder = ParseByteOrder(order.Value, order.At) is CtfByteOrder.Big ? CtfByteOrder.Big : CtfByteOrder.Little;
                }
                _metadata.PacketHeader = AsStruct(types, "packet.header", keyToken: Peek);
                break;
            case "env":
                foreach (var (name, value) in values)
                {
                    _metadata.Env[name] = value.Value;
                }
                break;
            case "clock":
                {
                    string name = values.TryGetValue("name", out var n) ? n.Value : "";
                    ulong freq = values.TryGetValue("freq", out var f) ? (ulong)ParseNumber(f.Value, f.At) : 1_000_000_000UL;
                    if (freq == 0)
                    {
                        Fail(f.At, "a non-zero clock freq");
                    }
                    long offsetS = values.TryGetValue("offset_s", out var os) ? ParseNumber(os.Value, os.At) : 0;
                    long offset = values.TryGetValue("offset", out var o) ? ParseNumber(o.Value, o.At) : 0;
                    _metadata.Clocks[name] = new CtfClock(name, freq, offsetS, offset);
                    break;
                }
            case "stream":
                {
                    long id = values.TryGetValue("id", out var i) ? ParseNumber(i.Value, i.At) : 0;
                    if (!_metadata.Streams.TryGetValue(id, out var stream))
                    {
                        stream = new CtfStreamClass(id);
                        _metadata.Streams[id] = stream;
                    }
                    stream.PacketContext = AsStruct(types, "packet.context", Peek);
                    stream.EventHeader = AsStruct(types, "event.header", Peek);
                    stream.EventContext = AsStruct(types, "event.context", Peek);
                    break;
                }
            case "event":
                {
                    long id = values.TryGetValue("id", out var i) ? ParseNumber(i.Value, i.At) : 0;
                    long streamId = values.TryGetValue("stream_id", out var s) ? ParseNumber(s.Value, s.At) : 0;
                    string name = values.TryGetValue("name", out var n) ? n.Value : string.Create(CultureInfo.InvariantCulture, $"event{id}");
                    _events.Add(new CtfEventClass(id, name, streamId, AsStruct(types, "context", Peek), AsStruct(types, "fields", Peek)));
                    break;
                }
        }
    }

    private CtfStruct? AsStruct(Dictionary<string, CtfType> types, string key, TsdlToken keyToken)
    {
        if (!types.TryGetValue(key, out var type))
        {
            return null;
        }
        return type as CtfStruct ?? throw new TraceFormatException(_fileName, keyToken.Line, "line", $"TSDL metadata: expected a struct for {key}, found {type.GetType().Name}.");
    }

    private string ReadKey()
    {
        var first = Next();
        if (first.Kind != TsdlTokenKind.Identifier)
        {
            Fail(first, "an attribute name");
        }
        string key = first.Text;
        while (Accept("."))
        {
            var part = Next();
            if (part.Kind != TsdlTokenKind.Identifier)
            {
                Fail(part, "an attribute name after '.'");
            }
            key = key + "." + part.Text;
        }
        return key;
    }

    // A value is everything up to ';': a string literal, a number, an identifier or a dotted path.
    private string ReadValue()
    {
        var start = Peek;
        if (start.Kind == TsdlTokenKind.String)
        {
            _pos++;
            return start.Text;
        }
        var text = new System.Text.StringBuilder();
        while (!Peek.Is(";") && !Peek.Is("}") && Peek.Kind != TsdlTokenKind.End)
        {
            text.Append(Next().Text);
        }
        if (text.Length == 0)
        {
            Fail(Peek, "a value");
        }
        return text.ToString();
    }

    private CtfType ParseTypeSpec(bool declarator)
    {
        var token = Peek;
        if (token.Kind != TsdlTokenKind.Identifier)
        {
            Fail(token, "a type");
        }
        switch (token.Text)
        {
            case "integer":
                _pos++;
                return ParseInteger(ParseAttributes());
            case "floating_point":
                {
                    _pos++;
                    var attrs = ParseAttributes();
                    var type = new CtfFloat
                    {
                        ExpDig = (int)Attr(attrs, "exp_dig", 8),
                        MantDig = (int)Attr(attrs, "mant_dig", 24),
                        Align = (int)Attr(attrs, "align", 8),
                        ByteOrder = attrs.TryGetValue("byte_order", out var bo) ? ParseByteOrder(bo.Value, bo.At) : CtfByteOrder.Native,
                    };
                    if (type.Size is not (32 or 64) || type.Align < 1 || type.Align > MaxAlignBits || (type.Align & (type.Align - 1)) != 0)
                    {
                        Fail(token, "a 32- or 64-bit floating_point with a power-of-two alignment");
                    }
                    _numbers.Add(type);
                    return type;
                }
            case "string":
                _pos++;
                if (Peek.Is("{"))
                {
                    ParseAttributes();
                }
                return CtfString.Instance;
            case "enum":
                return ParseEnum();
            case "struct":
                return ParseStruct();
            case "variant":
                return ParseVariant();
            default:
                return ParseNamedType(declarator);
        }
    }

    private CtfType ParseNamedType(bool declarator)
    {
        int start = _pos;
        while (Peek.Kind == TsdlTokenKind.Identifier || Peek.Is("*"))
        {
            _pos++;
        }
        int end = _pos;
        // In a declaration the last identifier is the field name, not part of the type.
        if (declarator && end - start >= 2)
        {
            end--;
            _pos = end;
        }
        var name = string.Join(' ', _tokens.GetRange(start, end - start).Select(t => t.Text));
        if (!_aliases.TryGetValue(name, out var type))
        {
            throw new TraceFormatException(_fileName, _tokens[start].Line, "line", $"TSDL metadata: expected a declared type, found unknown type '{name}'.");
        }
        return type;
    }

    private Dictionary<string, (string Value, TsdlToken At)> ParseAttributes()
    {
        Expect("{");
        var attrs = new Dictionary<string, (string, TsdlToken)>(StringComparer.Ordinal);
        while (!Accept("}"))
        {
            if (Accept(";"))
            {
                continue;
            }
            var at = Peek;
            var key = ReadKey();
            Expect("=");
            attrs[key] = (ReadValue(), at);
            Accept(";");
        }
        return attrs;
    }

    private CtfInteger ParseInteger(Dictionary<string, (string Value, TsdlToken At)> attrs)
    {
        if (!attrs.TryGetValue("size", out var sizeAttr))
        {
            Fail(Peek, "an integer size attribute");
        }
        int size = (int)ParseNumber(sizeAttr.Value, sizeAttr.At);
        if (size is < 1 or > 64)
        {
            Fail(sizeAttr.At, "an integer size of 1 to 64 bits");
        }
        string? clock = null;
        if (attrs.TryGetValue("map", out var map))
        {
            var parts = map.Value.Split('.');
            if (parts.Length == 3 && parts[0] == "clock" && parts[2] == "value")
            {
                clock = parts[1];
            }
        }
        int align = attrs.TryGetValue("align", out var a) ? (int)ParseNumber(a.Value, a.At) : (size % 8 == 0 ? 8 : 1);
        if (align < 1 || align > MaxAlignBits || (align & (align - 1)) != 0)
        {
            Fail(a.At, "an alignment that is a power of two");
        }
        var type = new CtfInteger
        {
            Size = size,
            Align = align,
            Signed = attrs.TryGetValue("signed", out var s) && ParseBool(s.Value),
            ByteOrder = attrs.TryGetValue("byte_order", out var bo) ? ParseByteOrder(bo.Value, bo.At) : CtfByteOrder.Native,
            Base = attrs.TryGetValue("base", out var b) ? ParseBase(b.Value, b.At) : 10,
            IsText = attrs.TryGetValue("encoding", out var e) && !e.Value.Equals("none", StringComparison.OrdinalIgnoreCase),
            ClockName = clock,
        };
        _numbers.Add(type);
        return type;
    }

    private long Attr(Dictionary<string, (string Value, TsdlToken At)> attrs, string key, long fallback) =>
        attrs.TryGetValue(key, out var v) ? ParseNumber(v.Value, v.At) : fallback;

    private CtfEnum ParseEnum()
    {
        var enumToken = Next();
        string? name = null;
        if (Peek.Kind == TsdlTokenKind.Identifier)
        {
            name = Next().Text;
        }
        CtfInteger? container = null;
        if (Accept(":"))
        {
            var type = Peek.Kind == TsdlTokenKind.Identifier && Peek.Text == "integer"
                ? ParseTypeSpec(declarator: false)
                : ResolveAlias(ReadWords("{"), Peek);
            container = type as CtfInteger;
            if (container is null)
            {
                Fail(enumToken, "an integer container type for the enum");
            }
        }
        if (!Peek.Is("{"))
        {
            if (name is not null && _enums.TryGetValue(name, out var known))
            {
                return known;
            }
            Fail(Peek, "'{' or a declared enum name");
        }
        if (container is null)
        {
            container = _aliases.TryGetValue("int", out var intType) && intType is CtfInteger i
                ? i
                : throw new TraceFormatException(_fileName, enumToken.Line, "line", "TSDL metadata: expected an enum container type (': type'), found none and no 'int' alias.");
        }
        Expect("{");
        var ranges = new List<CtfEnumRange>();
        long next = 0;
        while (!Accept("}"))
        {
            var labelToken = Next();
            if (labelToken.Kind is not (TsdlTokenKind.Identifier or TsdlTokenKind.String))
            {
                Fail(labelToken, "an enum label");
            }
            long low = next, high = next;
            if (Accept("="))
            {
                low = ReadSignedNumber();
                high = low;
                if (Accept("..."))
                {
                    high = ReadSignedNumber();
                }
            }
            ranges.Add(new CtfEnumRange(labelToken.Text, low, high));
            next = high + 1;
            if (!Accept(","))
            {
                Expect("}");
                break;
            }
        }
        var result = new CtfEnum(container, ranges);
        if (name is not null)
        {
            _enums[name] = result;
        }
        return result;
    }

    private CtfType ResolveAlias(string name, TsdlToken at) =>
        _aliases.TryGetValue(name, out var type)
            ? type
            : throw new TraceFormatException(_fileName, at.Line, "line", $"TSDL metadata: expected a declared type, found unknown type '{name}'.");

    private long ReadSignedNumber()
    {
        bool negative = Accept("-");
        var token = Next();
        if (token.Kind != TsdlTokenKind.Number)
        {
            Fail(token, "a number");
        }
        long value = ParseNumber(token.Text, token);
        return negative ? -value : value;
    }

    private CtfStruct ParseStruct()
    {
        var structToken = Next();
        string? name = null;
        if (Peek.Kind == TsdlTokenKind.Identifier && !PeekIdentifier("align"))
        {
            name = Next().Text;
        }
        if (!Peek.Is("{"))
        {
            if (name is not null && _structs.TryGetValue(name, out var known))
            {
                return known;
            }
            Fail(Peek, name is null ? "'{'" : $"'{{' or a declared struct (struct '{name}' is unknown)");
        }
        var fields = ParseFieldList();
        int align = 1;
        if (PeekIdentifier("align"))
        {
            _pos++;
            Expect("(");
            align = (int)ReadSignedNumber();
            Expect(")");
        }
        if (align < 1 || align > MaxAlignBits || (align & (align - 1)) != 0)
        {
            Fail(structToken, "a struct alignment that is a power of two");
        }
        var result = new CtfStruct(fields, align);
        if (name is not null)
        {
            _structs[name] = result;
        }
        return result;
    }

    private CtfVariant ParseVariant()
    {
        Next();
        string? name = null;
        if (Peek.Kind == TsdlTokenKind.Identifier)
        {
            name = Next().Text;
        }
        string? tag = null;
        if (Accept("<"))
        {
            tag = ReadKey();
            Expect(">");
        }
        if (!Peek.Is("{"))
        {
            if (name is not null && _variants.TryGetValue(name, out var known))
            {
                return tag is null ? known : known.WithTag(tag);
            }
            Fail(Peek, "'{' or a declared variant name");
        }
        var result = new CtfVariant(tag, ParseFieldList());
        if (name is not null)
        {
            _variants[name] = result;
        }
        return result;
    }

    private List<CtfField> ParseFieldList()
    {
        if (_scopes.Count >= MaxNesting)
        {
            Fail(Peek, $"structs and variants nested at most {MaxNesting} deep");
        }
        Expect("{");
        var fields = new List<CtfField>();
        _scopes.Add(fields);
        try
        {
            while (!Accept("}"))
            {
                if (Accept(";"))
                {
                    continue;
                }
                if (PeekIdentifier("typealias"))
                {
                    ParseTypealias();
                    continue;
                }
                var type = ParseTypeSpec(declarator: true);
                do
                {
                    var nameToken = Next();
                    if (nameToken.Kind != TsdlTokenKind.Identifier)
                    {
                        Fail(nameToken, "a field name");
                    }
                    var fieldType = ApplySuffixes(type);
                    if (fieldType.Depth > MaxNesting)
                    {
                        Fail(nameToken, $"types nested at most {MaxNesting} deep (structs, variants, arrays and sequences inside each other); field '{nameToken.Text}' nests {fieldType.Depth}");
                    }
                    ResolveReferences(fieldType, nameToken);
                    fields.Add(new CtfField(nameToken.Text, fieldType, _metadata.SlotCount++));
                }
                while (Accept(","));
                Expect(";");
            }
        }
        finally
        {
            _scopes.RemoveAt(_scopes.Count - 1);
        }
        return fields;
    }

    // name[16] is an array, name[length_field] a sequence; several suffixes nest left to right.
    private CtfType ApplySuffixes(CtfType element)
    {
        var suffixes = new List<(long Length, string? Ref)>();
        while (Accept("["))
        {
            if (element.Depth + suffixes.Count >= MaxNesting)
            {
                Fail(Peek, $"arrays nested at most {MaxNesting} deep");
            }
            var first = Peek;
            if (first.Kind == TsdlTokenKind.Number)
            {
                _pos++;
                long length = ParseNumber(first.Text, first);
                suffixes.Add((length, null));
            }
            else
            {
                suffixes.Add((0, ReadKey()));
            }
            Expect("]");
        }
        var type = element;
        for (int i = suffixes.Count - 1; i >= 0; i--)
        {
            type = suffixes[i].Ref is null ? new CtfArray(type, suffixes[i].Length) : new CtfSequence(type, suffixes[i].Ref!);
        }
        return type;
    }

    private void ResolveReferences(CtfType type, TsdlToken at)
    {
        switch (type)
        {
            case CtfSequence sequence:
                {
                    var field = Lookup(sequence.LengthRef, at);
                    if (field.Type is not CtfInteger and not CtfEnum)
                    {
                        Fail(at, $"an integer length field '{sequence.LengthRef}'");
                    }
                    sequence.LengthSlot = field.Slot;
                    ResolveReferences(sequence.Element, at);
                    break;
                }
            case CtfArray array:
                ResolveReferences(array.Element, at);
                break;
            case CtfVariant variant when variant.Tag is not null && variant.TagSlot < 0:
                {
                    var field = Lookup(variant.Tag, at);
                    if (field.Type is not CtfEnum tagEnum)
                    {
                        throw new TraceFormatException(_fileName, at.Line, "line", $"TSDL metadata: expected an enum tag '{variant.Tag}' for the variant, found {field.Type.GetType().Name}.");
                    }
                    variant.Resolve(field, tagEnum);
                    break;
                }
        }
    }

    // Relative paths name an earlier field of an enclosing struct; absolute ones (stream.event.header.id) a root scope.
    private CtfField Lookup(string path, TsdlToken at)
    {
        int dot = path.LastIndexOf('.');
        string name = dot < 0 ? path : path[(dot + 1)..];
        for (int i = _scopes.Count - 1; i >= 0; i--)
        {
            var scope = _scopes[i];
            for (int j = scope.Count - 1; j >= 0; j--)
            {
                if (scope[j].Name == name)
                {
                    return scope[j];
                }
            }
        }
        return _rootFields.TryGetValue(name, out var root)
            ? root
            : throw new TraceFormatException(_fileName, at.Line, "line", $"TSDL metadata: expected a field '{path}' declared before its use, found none.");
    }

    private CtfMetadata Finish()
    {
        foreach (var number in _numbers)
        {
            switch (number)
            {
                case CtfInteger integer when integer.ByteOrder == CtfByteOrder.Native:
                    integer.ByteOrder = _metadata.ByteOrder;
                    break;
                case CtfFloat floating when floating.ByteOrder == CtfByteOrder.Native:
                    floating.ByteOrder = _metadata.ByteOrder;
                    break;
            }
        }
        foreach (var ev in _events)
        {
            if (!_metadata.Streams.TryGetValue(ev.StreamId, out var stream))
            {
                stream = new CtfStreamClass(ev.StreamId);
                _metadata.Streams[ev.StreamId] = stream;
            }
            stream.Events[ev.Id] = ev;
        }
        return _metadata;
    }

    private CtfByteOrder ParseByteOrder(string value, TsdlToken at) => value switch
    {
        "le" or "little" => CtfByteOrder.Little,
        "be" or "big" or "network" => CtfByteOrder.Big,
        "native" => CtfByteOrder.Native,
        _ => throw new TraceFormatException(_fileName, at.Line, "line", $"TSDL metadata: expected byte_order le, be, network or native, found '{value}'."),
    };

    private int ParseBase(string value, TsdlToken at) => value switch
    {
        "decimal" or "dec" or "d" or "i" or "u" or "10" => 10,
        "hexadecimal" or "hex" or "x" or "X" or "p" or "16" => 16,
        "octal" or "oct" or "o" or "8" => 8,
        "binary" or "b" or "2" => 2,
        _ => throw new TraceFormatException(_fileName, at.Line, "line", $"TSDL metadata: expected an integer base, found '{value}'."),
    };

    private static bool ParseBool(string value) => value is "true" or "TRUE" or "1";

    private long ParseNumber(string text, TsdlToken at)
    {
        var s = text.AsSpan().TrimEnd("uUlL");
        bool negative = s.StartsWith("-");
        if (negative)
        {
            s = s[1..];
        }
        ulong value;
        bool ok;
        if (s.StartsWith("0x") || s.StartsWith("0X"))
        {
            ok = ulong.TryParse(s[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }
        else if (s.Length > 1 && s[0] == '0')
        {
            ok = true;
            value = 0;
            foreach (char c in s[1..])
            {
                ok &= c is >= '0' and <= '7';
                value = (value * 8) + (ulong)(c - '0');
            }
        }
        else
        {
            ok = ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        }
        if (!ok)
        {
            throw new TraceFormatException(_fileName, at.Line, "line", $"TSDL metadata: expected a number, found '{text}'.");
        }
        return negative ? -unchecked((long)value) : unchecked((long)value);
    }
}
