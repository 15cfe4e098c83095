Feature: Context, waits, loops and child workflows
  As a user of swirl
  I want the 1.0 data flow and composite tasks to behave as the spec says
  So that documents written for other runtimes run here unchanged

  # export.as replaces $context, which later tasks read
  Scenario: Export To The Context
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: export-context
      version: '1.0.0'
    do:
      - remember:
          set:
            customer: ${ .customer }
          export:
            as: '{ customer: .customer }'
      - forget:
          set:
            total: 42
      - combine:
          set:
            customer: ${ $context.customer }
            total: ${ .total }
    """
    And given the workflow input is:
    """yaml
    customer: Ada
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    customer: Ada
    total: 42
    """

  # A wait passes its input on
  Scenario: Wait Then Go On
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: wait-then-go-on
      version: '1.0.0'
    do:
      - pause:
          wait:
            milliseconds: 50
      - done:
          set:
            waited: ${ .value }
    """
    And given the workflow input is:
    """yaml
    value: 1
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    waited: 1
    """
    And pause should run first
    And done should run after pause

  # `while` stops a loop; `at` names the index
  Scenario: For With While
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: for-while
      version: '1.0.0'
    do:
      - sum:
          for:
            each: n
            at: i
            in: .numbers
          while: ${ $i < 3 }
          do:
            - add:
                set:
                  numbers: ${ .numbers }
                  total: ${ .total + $n }
    """
    And given the workflow input is:
    """yaml
    numbers: [ 1, 2, 3, 4 ]
    total: 0
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    numbers: [ 1, 2, 3, 4 ]
    total: 6
    """

  # A fork without compete outputs every branch's output, in order
  Scenario: Fork Collects Every Branch
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: fork-all
      version: '1.0.0'
    do:
      - both:
          fork:
            branches:
              - left:
                  set:
                    side: left
              - right:
                  set:
                    side: right
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    - side: left
    - side: right
    """

  # run: workflow starts a child instance and takes its output
  Scenario: Run A Child Workflow
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: parent
      version: '1.0.0'
    do:
      - delegate:
          run:
            workflow:
              namespace: default
              name: child
              version: '1.0.0'
              input:
                greeting: ${ "Hello " + .name }
    """
    And another workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: child
      version: '1.0.0'
    do:
      - answer:
          set:
            answer: ${ .greeting + "!" }
    """
    And given the workflow input is:
    """yaml
    name: Ada
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    answer: Hello Ada!
    """

  # $workflow has the instance's id, its raw input, the definition as
  # written and when it started
  Scenario: Expressions Read The Workflow Descriptor
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: workflow-descriptor
      version: '1.2.3'
    do:
      - describe:
          set:
            name: ${ "\($workflow.definition.document.name):\($workflow.definition.document.version)" }
            firstTask: ${ $workflow.definition.do[0] | keys[0] }
            input: ${ $workflow.input }
            id: ${ $workflow.id }
            started: ${ $workflow.startedAt.epoch.milliseconds / 1000 | floor == $workflow.startedAt.epoch.seconds and ($workflow.startedAt.iso8601 | endswith("Z")) }
    """
    And given the workflow input is:
    """yaml
    order: 7
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    name: workflow-descriptor:1.2.3
    firstTask: describe
    input:
      order: 7
    id: ctk
    started: true
    """
