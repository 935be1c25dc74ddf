using Pipeline.Replay.Runner;

namespace Pipeline.Replay.Tests;

public class KernelProfileTests
{
    [SkippableTheory]
    [InlineData("v5.13", KernelFix.TtuSync, true)]
    [InlineData("v5.13", KernelFix.RmapLocksPmdMove, false)]
    [InlineData("v5.13.3", KernelFix.RmapLocksPmdMove, true)]
    [InlineData("v5.10.46", KernelFix.TtuSync, false)]
    [InlineData("v5.10.47", KernelFix.TtuSync, true)]
    [InlineData("v6.0", KernelFix.TableFreeIpiSync, false)]
    [InlineData("v6.1", KernelFix.TableFreeIpiSync, true)]
    [InlineData("v4.3", KernelFix.MlockUnderPtl, false)]
    [InlineData("v4.4", KernelFix.MlockUnderPtl, true)]
    [InlineData("v6.6", KernelFix.RealignPmd, false)]
    [InlineData("v6.7", KernelFix.RealignPmd, true)]
    [InlineData("v6.11", KernelFix.PmdRecheckUnderLocks, false)]
    [InlineData("v6.12", KernelFix.PmdRecheckUnderLocks, true)]
    [InlineData("latest", KernelFix.SkipPmdMoveOnOverlap, false)]
    [InlineData("none", KernelFix.WarnOnOnce, false)]
    public void Parse_NamedKernel_HasTheFixesOfItsVersion(string name, KernelFix fix, bool expected)
    {
        Assert.Equal(expected, KernelProfile.Parse(name).Has(fix));
    }

    [SkippableFact]
    public void Parse_WithFixAdjustments_AddsAndRemoves()
    {
        var profile = KernelProfile.Parse("v5.13", ["+rmap-locks-pmd-move", "-ttu-sync"]);

        Assert.True(profile.Has(KernelFix.RmapLocksPmdMove));
        Assert.False(profile.Has(KernelFix.TtuSync));
        Assert.Equal("v5.13+rmap-locks-pmd-move-ttu-sync", profile.Name);
    }

    [SkippableTheory]
    [InlineData("v9.9", null)]
    [InlineData("latest", "+no-such-fix")]
    [InlineData("latest", "ttu-sync")]
    public void Parse_BadInput_ThrowsNamingValidChoices(string name, string? fix)
    {
        var ex = Assert.Throws<ArgumentException>(() => KernelProfile.Parse(name, fix is null ? null : [fix]));

        Assert.Matches("expected|must be", ex.Message);
    }

    [SkippableFact]
    public void Names_EveryNameParses()
    {
        foreach (var name in KernelProfile.Names)
        {
            Assert.Equal(name, KernelProfile.Parse(name).Name);
        }
    }

    [SkippableTheory]
    [InlineData("v6.18", null, true)]
    [InlineData("v6.18", "+rmap-locks-pmd-move", true)]
    [InlineData("latest", "-ttu-sync", true)]
    [InlineData("v6.12", null, false)]
    [InlineData("v6.12", "+skip-pmd-move-on-overlap", false)]
    [InlineData("v5.14", null, false)]
    public void ToPrediction_MultiVmaMoves_FollowTheProfileFeatureNotItsName(string name, string? fix, bool expected)
    {
        // --fix renames the profile (v6.18+rmap-locks-pmd-move); the prediction must not change with the name.
        var profile = KernelProfile.Parse(name, fix is null ? null : [fix]);

        Assert.Equal(expected, profile.Has(KernelFeature.MultiVmaMremap));
        Assert.Equal(expected, DatasetReplay.ToPrediction(profile).MultiVmaMove);
    }
}
