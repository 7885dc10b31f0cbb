return AssocConv.Cli.CliApp.Run(args, Console.Out, Console.Error);
