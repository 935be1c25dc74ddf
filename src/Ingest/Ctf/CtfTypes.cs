namespace Pipeline.Ingest.Ctf;

/// <summary>Byte order of a CTF type; <see cref="Native"/> resolves to the trace's <c>byte_order</c>.</summary>
internal enum CtfByteOrder
{
    Native,
    Little,
    Big,
}

/// <summary>A TSDL type declaration (CTF 1.8 §4).</summary>
internal abstract class CtfType
{
    /// <summary>Alignment in bits, before the decode starts the field.</summary>
    public abstract int Alignment { get; }

    /// <summary>
    /// How many types nest in this one (1 for a leaf), known when it is built: the parser refuses deep types up
    /// front, because everything that walks a type (alignment, decode plans, references) recurses.
    /// </summary>
    public virtual int Depth => 1;

    /// <summary>One more than the deepest of <paramref name="members"/>.</summary>
    protected static int DepthOver(IEnumerable<CtfField> members)
    {
        int depth = 0;
        foreach (var member in members)
        {
            depth = Math.Max(depth, member.Type.Depth);
        }
        return depth + 1;
    }
}

/// <summary><c>integer { size; align; signed; byte_order; base; encoding; map }</c>.</summary>
internal sealed class CtfInteger : CtfType
{
    public int Size { get; init; }

    public int Align { get; init; }

    public bool Signed { get; init; }

    public CtfByteOrder ByteOrder { get; set; }

    public int Base { get; init; } = 10;

    /// <summary>Encoding other than none: an 8-bit array of these is text.</summary>
    public bool IsText { get; init; }

    /// <summary>The clock this integer maps to (<c>map = clock.NAME.value</c>), if any.</summary>
    public string? ClockName { get; init; }

    public override int Alignment => Align;
}

/// <summary><c>floating_point { exp_dig; mant_dig; align; byte_order }</c>.</summary>
internal sealed class CtfFloat : CtfType
{
    public int ExpDig { get; init; }

    public int MantDig { get; init; }

    public int Align { get; init; }

    public CtfByteOrder ByteOrder { get; set; }

    public int Size => ExpDig + MantDig;

    public override int Alignment => Align;
}

/// <summary>A NUL-terminated string (byte aligned).</summary>
internal sealed class CtfString : CtfType
{
    public static CtfString Instance { get; } = new();

    public override int Alignment => 8;
}

/// <summary>One enumeration mapping: <c>label = lo ... hi</c>.</summary>
internal readonly record struct CtfEnumRange(string Label, long Low, long High);

/// <summary><c>enum : container { label = value, ... }</c>.</summary>
internal sealed class CtfEnum(CtfInteger container, IReadOnlyList<CtfEnumRange> ranges) : CtfType
{
    public CtfInteger Container { get; } = container;

    public IReadOnlyList<CtfEnumRange> Ranges { get; } = ranges;

    public override int Alignment => Container.Align;

    public string? LabelOf(long value)
    {
        foreach (var range in Ranges)
        {
            if (value >= range.Low && value <= range.High)
            {
                return range.Label;
            }
        }
        return null;
    }
}

/// <summary>A named member of a struct or a variant option.</summary>
internal sealed class CtfField(string name, CtfType type, int slot)
{
    public string Name { get; } = name;

    public CtfType Type { get; set; } = type;

    /// <summary>Where the decoder leaves this field's integer value, for sequences and variants that refer to it.</summary>
    public int Slot { get; } = slot;
}

/// <summary><c>struct { fields } align(n)</c>.</summary>
internal sealed class CtfStruct(IReadOnlyList<CtfField> fields, int minAlign) : CtfType
{
    private int _alignment = -1;

    public IReadOnlyList<CtfField> Fields { get; } = fields;

    public int MinAlign { get; } = minAlign;

    public override int Depth { get; } = DepthOver(fields);

    public override int Alignment
    {
        get
        {
            if (_alignment < 0)
            {
                int align = Math.Max(1, MinAlign);
                foreach (var member in Fields)
                {
                    align = Math.Max(align, member.Type.Alignment);
                }
                _alignment = align;
            }
            return _alignment;
        }
    }

    public CtfField? Find(string name)
    {
        foreach (var field in Fields)
        {
            if (field.Name == name)
            {
                return field;
            }
        }
        return null;
    }
}

/// <summary><c>variant &lt;tag&gt; { options }</c>: the option whose name is the tag's enum label is present.</summary>
internal sealed class CtfVariant(string? tag, IReadOnlyList<CtfField> options) : CtfType
{
    public string? Tag { get; } = tag;

    public IReadOnlyList<CtfField> Options { get; } = options;

    public override int Depth { get; } = DepthOver(options);

    /// <summary>Slot of the tag field, resolved where the variant is used.</summary>
    public int TagSlot { get; private set; } = -1;

    /// <summary>Tag value ranges mapped to options, resolved from the tag's enum.</summary>
    public (long Low, long High, CtfType Type)[] Choices { get; private set; } = [];

    // A variant's own alignment is that of the chosen option (CTF 1.8 §4.2.2); nothing to align up front.
    public override int Alignment => 1;

    public CtfVariant WithTag(string tag) => new(tag, Options);

    public void Resolve(CtfField tagField, CtfEnum tagEnum)
    {
        TagSlot = tagField.Slot;
        var choices = new List<(long, long, CtfType)>();
        foreach (var range in tagEnum.Ranges)
        {
            foreach (var option in Options)
            {
                if (option.Name == range.Label)
                {
                    choices.Add((range.Low, range.High, option.Type));
                }
            }
        }
        Choices = [.. choices];
    }

    public CtfType? Select(long tagValue)
    {
        foreach (var (low, high, type) in Choices)
        {
            if (tagValue >= low && tagValue <= high)
            {
                return type;
            }
        }
        return null;
    }
}

/// <summary><c>type name[N]</c>.</summary>
internal sealed class CtfArray(CtfType element, long length) : CtfType
{
    public CtfType Element { get; } = element;

    public long Length { get; } = length;

    public override int Depth { get; } = element.Depth + 1;

    public override int Alignment => Element.Alignment;
}

/// <summary><c>type name[length_field]</c>.</summary>
internal sealed class CtfSequence(CtfType element, string lengthRef) : CtfType
{
    public CtfType Element { get; } = element;

    public string LengthRef { get; } = lengthRef;

    public int LengthSlot { get; set; } = -1;

    public override int Depth { get; } = element.Depth + 1;

    public override int Alignment => Element.Alignment;
}
