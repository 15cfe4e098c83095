Feature: Listening in full
  As a user of swirl
  I want 1.0 listen tasks to read, filter, correlate and count events as the spec says
  So that instances wait for exactly the events they mean

  # `read: envelope` gives the whole CloudEvent: its context attributes
  # (the optional ones and the extensions too) beside its data
  Scenario: Listen Reads The Envelope
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-envelope
      version: '1.0.0'
    do:
      - pingPong:
          fork:
            branches:
              - waitForPing:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.ping
                          source: https://example.com/pinger
                    read: envelope
              - sendPing:
                  emit:
                    event:
                      with:
                        source: https://example.com/pinger
                        type: com.example.ping
                        subject: table-4
                        region: eu
                        data:
                          hello: world
          output:
            as: '.[0][0] | {specversion, type, source, subject, region, data, timed: (.time | type)}'
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    specversion: '1.0'
    type: com.example.ping
    source: https://example.com/pinger
    subject: table-4
    region: eu
    data:
      hello: world
    timed: string
    """

  # A filter without a source takes events of every source; its other
  # attributes are regular expressions, and `data` a condition on the data
  Scenario: Listen Filters On Other Attributes
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-filter
      version: '1.0.0'
    do:
      - watch:
          fork:
            branches:
              - waitForHot:
                  listen:
                    to:
                      any:
                        - with:
                            type: com.example.reading
                            subject: room-[0-9]+
                            data: ${ .celsius > 38 }
              - sendReadings:
                  do:
                    - cold:
                        emit:
                          event:
                            with:
                              source: https://example.com/a
                              type: com.example.reading
                              subject: room-1
                              data: { celsius: 20 }
                    - hallway:
                        emit:
                          event:
                            with:
                              source: https://example.com/b
                              type: com.example.reading
                              subject: hallway
                              data: { celsius: 40 }
                    - hot:
                        emit:
                          event:
                            with:
                              source: https://example.com/c
                              type: com.example.reading
                              subject: room-12
                              data: { celsius: 39 }
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    - celsius: 39
    """

  # `until` as a condition on the events consumed so far
  Scenario: Listen To Any Until A Condition
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-until-condition
      version: '1.0.0'
    do:
      - gather:
          fork:
            branches:
              - collect:
                  listen:
                    to:
                      any:
                        - with:
                            type: com.example.tick
                      until: (. | length) >= 2
              - tick:
                  for:
                    in: '[1, 2, 3]'
                  do:
                    - send:
                        emit:
                          event:
                            with:
                              source: https://example.com/clock
                              type: com.example.tick
                              data: ${ $item }
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ 1, 2 ]
    """

  # `until` as events: those that end the wait are not in the output
  Scenario: Listen To Any Until An Event
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-until-event
      version: '1.0.0'
    do:
      - gather:
          fork:
            branches:
              - collect:
                  listen:
                    to:
                      any:
                        - with:
                            type: com.example.item
                            source: https://example.com/cart
                      until:
                        one:
                          with:
                            type: com.example.checkout
                            source: https://example.com/cart
              - shop:
                  do:
                    - first:
                        emit:
                          event:
                            with:
                              source: https://example.com/cart
                              type: com.example.item
                              data: apple
                    - second:
                        emit:
                          event:
                            with:
                              source: https://example.com/cart
                              type: com.example.item
                              data: pear
                    - pay:
                        emit:
                          event:
                            with:
                              source: https://example.com/cart
                              type: com.example.checkout
                              data: done
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ apple, pear ]
    """

  # Correlation without `expect`: the first event's value is what the
  # others of the same listen must carry
  Scenario: Listen To All Correlated Events
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-correlate
      version: '1.0.0'
    do:
      - match:
          fork:
            branches:
              - pair:
                  listen:
                    to:
                      all:
                        - with:
                            type: com.example.temperature
                            source: https://example.com/sensor
                          correlate:
                            room:
                              from: .roomid
                        - with:
                            type: com.example.humidity
                            source: https://example.com/sensor
                          correlate:
                            room:
                              from: .roomid
              - sense:
                  do:
                    - temperature:
                        emit:
                          event:
                            with:
                              source: https://example.com/sensor
                              type: com.example.temperature
                              roomid: kitchen
                              data: 21
                    - otherRoom:
                        emit:
                          event:
                            with:
                              source: https://example.com/sensor
                              type: com.example.humidity
                              roomid: attic
                              data: 80
                    - humidity:
                        emit:
                          event:
                            with:
                              source: https://example.com/sensor
                              type: com.example.humidity
                              roomid: kitchen
                              data: 45
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ 21, 45 ]
    """

  # Correlation with `expect`: evaluated on the task's input
  Scenario: Listen For The Expected Correlation
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-expect
      version: '1.0.0'
    do:
      - wait:
          fork:
            branches:
              - paid:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.paid
                          source: https://example.com/bank
                        correlate:
                          order:
                            from: .data.order
                            expect: ${ .order }
              - pay:
                  do:
                    - other:
                        emit:
                          event:
                            with:
                              source: https://example.com/bank
                              type: com.example.paid
                              data: { order: 7, amount: 1 }
                    - ours:
                        emit:
                          event:
                            with:
                              source: https://example.com/bank
                              type: com.example.paid
                              data: { order: 3, amount: 2 }
          output:
            as: .[0][0].amount
    """
    And given the workflow input is:
    """yaml
    order: 3
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    2
    """

  # `any: []` listens to every event; `foreach` runs its tasks on each
  # event as it comes, one at a time, with the event and its index as
  # variables; the listen's output is the array of the items' outputs
  # (after `foreach.output.as`), and `foreach.export.as` sets `$context`
  Scenario: Listen To Every Event For Each
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-every-event
      version: '1.0.0'
    do:
      - watch:
          fork:
            branches:
              - collect:
                  listen:
                    to:
                      any: []
                      until: ${ length == 3 }
                    read: envelope
                  foreach:
                    item: event
                    at: i
                    do:
                      - describe:
                          set:
                            kind: ${ $event.type }
                            n: ${ .data.n * 10 + $i }
                    output:
                      as: ${ "\(.kind):\(.n)" }
                    export:
                      as: '${ {count: (($context.count // 0) + 1), last: .} }'
              - send:
                  do:
                    - a:
                        emit:
                          event:
                            with:
                              source: https://example.com/a
                              type: com.example.a
                              data: { n: 1 }
                    - b:
                        emit:
                          event:
                            with:
                              source: https://example.com/b
                              type: com.example.b
                              data: { n: 2 }
                    - c:
                        emit:
                          event:
                            with:
                              source: https://example.com/c
                              type: com.example.c
                              data: { n: 3 }
          output:
            as: '${ {seen: .[0], context: $context} }'
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    seen: [ 'com.example.a:10', 'com.example.b:21', 'com.example.c:32' ]
    context:
      count: 3
      last: 'com.example.c:32'
    """

  # `foreach` without tasks: each event is its item's output, shaped by
  # `output.as`; the events of `all` are processed as they come
  Scenario: Listen To All For Each As They Come
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-all-foreach
      version: '1.0.0'
    do:
      - both:
          fork:
            branches:
              - pair:
                  listen:
                    to:
                      all:
                        - with:
                            type: com.example.left
                        - with:
                            type: com.example.right
                  foreach:
                    output:
                      as: '${ "\($index):\($item.side)" }'
              - send:
                  do:
                    - right:
                        emit:
                          event:
                            with:
                              source: https://example.com/pair
                              type: com.example.right
                              data: { side: right }
                    - left:
                        emit:
                          event:
                            with:
                              source: https://example.com/pair
                              type: com.example.left
                              data: { side: left }
          output:
            as: .[0]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    [ '0:right', '1:left' ]
    """

  # An item's output is checked against `foreach.output.schema` after
  # `foreach.output.as`: one that does not conform is a validation error
  # of the listen task, which a try catches
  Scenario: Listen For Each Item Output Not Matching Its Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-foreach-schemas
      version: '1.0.0'
    do:
      - guarded:
          try:
            - both:
                fork:
                  branches:
                    - readings:
                        listen:
                          to:
                            any:
                              - with:
                                  type: com.example.reading
                            until: ${ length == 2 }
                        foreach:
                          output:
                            as: ${ .celsius }
                            schema:
                              document:
                                type: number
                                maximum: 100
                    - send:
                        do:
                          - warm:
                              emit:
                                event:
                                  with:
                                    source: https://example.com/sensor
                                    type: com.example.reading
                                    data: { celsius: 21 }
                          - boiling:
                              emit:
                                event:
                                  with:
                                    source: https://example.com/sensor
                                    type: com.example.reading
                                    data: { celsius: 120 }
          catch:
            errors:
              with:
                type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
            as: problem
            do:
              - explain:
                  set:
                    instance: ${ $problem.instance }
                    detail: ${ $problem.detail }
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    instance: /do/0/guarded/try/0/both/fork/branches/0/readings
    detail: "the output of an item of task 'readings' does not match its schema: at the top: must be <=100, but got 120"
    """

  # The context an item exports is checked against `foreach.export.schema`
  Scenario: Listen For Each Exported Context Not Matching Its Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-foreach-export
      version: '1.0.0'
    do:
      - both:
          fork:
            branches:
              - readings:
                  listen:
                    to:
                      one:
                        with:
                          type: com.example.reading
                  foreach:
                    export:
                      as: ${ .celsius }
                      schema:
                        document:
                          type: object
              - send:
                  emit:
                    event:
                      with:
                        source: https://example.com/sensor
                        type: com.example.reading
                        data: { celsius: 21 }
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
    status: 400
    instance: /do/0/both/fork/branches/0/readings
    """

  # A filter's type and source may be computed from the listen's input as it
  # starts: it waits for the event the instance was given, and takes no
  # other (the ping of the same source first, the pong of another source)
  Scenario: Listen For A Type And Source Computed From The Input
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-computed-type
      version: '1.0.0'
    do:
      - exchange:
          fork:
            branches:
              - waitForIt:
                  listen:
                    to:
                      one:
                        with:
                          type: ${ .expect.kind }
                          source: ${ "https://example.com/" + .expect.from }
              - send:
                  do:
                    - ping:
                        emit:
                          event:
                            with:
                              source: https://example.com/sender
                              type: com.example.ping
                              data: { n: 1 }
                    - strayPong:
                        emit:
                          event:
                            with:
                              source: https://example.com/elsewhere
                              type: com.example.pong
                              data: { n: 2 }
                    - pong:
                        emit:
                          event:
                            with:
                              source: https://example.com/sender
                              type: com.example.pong
                              data: { n: 3 }
          output:
            as: .[0][0]
    """
    And given the workflow input is:
    """yaml
    expect:
      kind: com.example.pong
      from: sender
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    n: 3
    """

  # A computed type that is no string is an expression error of the listen
  Scenario: Listen For A Computed Type That Is No String
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-computed-type-wrong
      version: '1.0.0'
    do:
      - waitForIt:
          listen:
            to:
              one:
                with:
                  type: ${ .kind }
    """
    And given the workflow input is:
    """yaml
    kind: 42
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/waitForIt
    detail: "evaluating '.kind' failed: its result 42 is no event type: it must be a string, not empty"
    """

  # A listen inside a `for` computes its type and its correlation's
  # expected value with the loop's variables, afresh in each iteration
  Scenario: Listen For Each Item Of A Loop
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-in-for
      version: '1.0.0'
    do:
      - eachKind:
          for:
            each: kind
            in: .kinds
          do:
            - exchange:
                fork:
                  branches:
                    - waitForIt:
                        listen:
                          to:
                            one:
                              with:
                                type: ${ "com.example." + $kind }
                              correlate:
                                round:
                                  from: .data.round
                                  expect: ${ $index }
                    - send:
                        do:
                          - otherRound:
                              emit:
                                event:
                                  with:
                                    source: https://example.com/sender
                                    type: ${ "com.example." + $kind }
                                    data: '${ { round: ($index + 10), kind: $kind } }'
                          - otherKind:
                              emit:
                                event:
                                  with:
                                    source: https://example.com/sender
                                    type: com.example.other
                                    data: '${ { round: $index, kind: "other" } }'
                          - ours:
                              emit:
                                event:
                                  with:
                                    source: https://example.com/sender
                                    type: ${ "com.example." + $kind }
                                    data: '${ { round: $index, kind: $kind } }'
                output:
                  as: '${ { got: ($input.got + [ .[0][0] ]) } }'
    """
    And given the workflow input is:
    """yaml
    got: []
    kinds: [ ping, pong ]
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    got:
      - { round: 0, kind: ping }
      - { round: 1, kind: pong }
    """

  # The type and source a listen computed are in its instance's record: a
  # server killed while it waits listens under them after its restart. The
  # instance starts on an event that says what to wait for
  Scenario: A Computed Listen Survives A Restart
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: listen-computed-restart
      version: '1.0.0'
    schedule:
      on:
        one:
          with:
            type: com.example.watch
    do:
      - waitForIt:
          listen:
            to:
              one:
                with:
                  type: ${ .[0].kind }
                  source: ${ .[0].from }
          output:
            as: .[0]
    """
    When the workflow is served
    And the event is published:
    """yaml
    specversion: '1.0'
    id: watch-1
    source: https://example.com/watcher
    type: com.example.watch
    data:
      kind: com.example.done
      from: https://example.com/worker
    """
    And the server is killed and started again
    And the event is published:
    """yaml
    specversion: '1.0'
    id: done-elsewhere
    source: https://example.com/other
    type: com.example.done
    data:
      by: other
    """
    And the event is published:
    """yaml
    specversion: '1.0'
    id: done-1
    source: https://example.com/worker
    type: com.example.done
    data:
      by: worker
    """
    Then 1 instance of the workflow should complete with outputs:
    """yaml
    - by: worker
    """
    And the workflow should have 1 instance
